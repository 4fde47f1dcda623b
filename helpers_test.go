package vargate_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vargate/vargate"
)

func TestListLimit(t *testing.T) {
	for in, want := range map[int]int{-5: vargate.DefaultListLimit, 0: vargate.DefaultListLimit, 1: 1, 250: 250,
		vargate.MaxListLimit: vargate.MaxListLimit, vargate.MaxListLimit + 1: vargate.MaxListLimit, 1 << 40: vargate.MaxListLimit} {
		if got := vargate.ListLimit(in); got != want {
			t.Errorf("ListLimit(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestOrDefault(t *testing.T) {
	if got := vargate.OrDefault(0*time.Second, time.Minute); got != time.Minute {
		t.Errorf("zero: %s", got)
	}
	if got := vargate.OrDefault(-time.Second, time.Minute); got != time.Minute {
		t.Errorf("negative: %s", got)
	}
	if got := vargate.OrDefault(time.Second, time.Minute); got != time.Second {
		t.Errorf("set: %s", got)
	}
	if got := vargate.OrDefault(3, 10); got != 3 {
		t.Errorf("int: %d", got)
	}
}

// TestEvery runs at once, then once per interval, and stops with ctx.
func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		var at []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			vargate.Every(ctx, time.Minute, func(context.Context) { at = append(at, time.Since(start)) })
		}()
		time.Sleep(3*time.Minute + time.Second)
		cancel()
		<-done
		want := []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute}
		if len(at) != len(want) {
			t.Fatalf("ran at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("ran at %v, want %v", at, want)
			}
		}
	})
}
