package cache_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/cache"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestGetExpires(t *testing.T) {
	c := cache.New[string, int](10)
	c.Add("a", 1, t0.Add(time.Second))
	if v, ok := c.Get("a", t0); !ok || v != 1 {
		t.Fatalf("Get before expiry = %d, %v; want 1, true", v, ok)
	}
	if v, ok := c.Get("a", t0.Add(time.Second-time.Nanosecond)); !ok || v != 1 {
		t.Fatalf("Get just before expiry = %d, %v; want 1, true", v, ok)
	}
	if _, ok := c.Get("a", t0.Add(time.Second)); ok {
		t.Fatal("Get at the expiry found the entry; want a miss")
	}
	if _, ok := c.Get("b", t0); ok {
		t.Fatal("Get of a key never added found an entry")
	}
	c.Add("a", 2, t0.Add(2*time.Second))
	if v, ok := c.Get("a", t0.Add(time.Second)); !ok || v != 2 {
		t.Fatalf("Get after a new Add = %d, %v; want 2, true", v, ok)
	}
}

func TestZeroExpiryNeverExpires(t *testing.T) {
	var c cache.Cache[string, int] // the zero value is ready to use
	c.Add("a", 1, time.Time{})
	if v, ok := c.Get("a", t0.Add(100*365*24*time.Hour)); !ok || v != 1 {
		t.Fatalf("Get = %d, %v; want 1, true", v, ok)
	}
}

// TestFullEvictsLeastRecentlyUsed is the point of the package: a full
// cache makes room by dropping one entry, the least recently used, and
// keeps the others.
func TestFullEvictsLeastRecentlyUsed(t *testing.T) {
	const size = 100
	c := cache.New[int, int](size)
	for i := range size {
		c.Add(i, i, time.Time{})
	}
	// Key 0 is the oldest added; using it makes key 1 the least recently used.
	if _, ok := c.Get(0, t0); !ok {
		t.Fatal("key 0 missing before the cache was full")
	}
	c.Add(size, size, time.Time{})
	if n := c.Len(); n != size {
		t.Errorf("Len = %d after adding to a full cache; want %d", n, size)
	}
	if _, ok := c.Get(1, t0); ok {
		t.Error("key 1, the least recently used, is still there")
	}
	for _, k := range []int{0, 2, size / 2, size - 1, size} {
		if v, ok := c.Get(k, t0); !ok || v != k {
			t.Errorf("Get(%d) = %d, %v; want %d, true (only the least recently used entry may go)", k, v, ok, k)
		}
	}
}

func TestZeroValueHoldsDefaultSize(t *testing.T) {
	var c cache.Cache[int, int]
	for i := range cache.DefaultSize + 1 {
		c.Add(i, i, time.Time{})
	}
	if n := c.Len(); n != cache.DefaultSize {
		t.Fatalf("Len = %d; want %d", n, cache.DefaultSize)
	}
	if _, ok := c.Get(0, t0); ok {
		t.Error("the first key, least recently used, is still there")
	}
	if _, ok := c.Get(1, t0); !ok {
		t.Error("the second key is gone; only one entry should have made room")
	}
}

func TestGetOrAdd(t *testing.T) {
	c := cache.New[string, string](10)
	if got := c.GetOrAdd("k", t0, "first", time.Time{}); got != "first" {
		t.Fatalf("GetOrAdd on a miss = %q; want first", got)
	}
	if got := c.GetOrAdd("k", t0, "second", time.Time{}); got != "first" {
		t.Fatalf("GetOrAdd on a hit = %q; want the value already there, first", got)
	}
	c.Add("e", "old", t0.Add(time.Second))
	if got := c.GetOrAdd("e", t0.Add(time.Second), "new", time.Time{}); got != "new" {
		t.Fatalf("GetOrAdd over an expired entry = %q; want new", got)
	}
}

func TestRemove(t *testing.T) {
	c := cache.New[string, int](10)
	for _, k := range []string{"t1/a", "t1/b", "t2/a"} {
		c.Add(k, 1, time.Time{})
	}
	c.Remove("t2/a")
	c.RemoveFunc(func(k string) bool { return k == "t1/a" })
	for k, want := range map[string]bool{"t1/a": false, "t1/b": true, "t2/a": false} {
		if _, ok := c.Get(k, t0); ok != want {
			t.Errorf("Get(%s) found = %v; want %v", k, ok, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	c := cache.New[string, int](8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				k := fmt.Sprint((g + i) % 16)
				c.Add(k, i, t0.Add(time.Second))
				c.Get(k, t0)
				c.GetOrAdd(k, t0, i, time.Time{})
				if i%100 == 0 {
					c.RemoveFunc(func(string) bool { return true })
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 8 {
		t.Fatalf("Len = %d; want at most 8", n)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := cache.New[[32]byte, int](cache.DefaultSize)
	var k [32]byte
	c.Add(k, 1, t0.Add(time.Hour))
	for b.Loop() {
		c.Get(k, t0)
	}
}
