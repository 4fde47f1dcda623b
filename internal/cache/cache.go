package cache

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultSize is the number of entries a Cache holds when its size is not
// given (the zero value, or New with a size below 1).
const DefaultSize = 100000

// Cache maps keys to values that expire, holding at most its size: adding
// to a full cache drops the least recently used entry. The zero value is
// ready to use with DefaultSize entries. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu   sync.Mutex
	size int
	lru  *simplelru.LRU[K, entry[V]] // nil until first used
}

// entry is a value and when it expires (zero: never).
type entry[V any] struct {
	v       V
	expires time.Time
}

// fresh reports whether the entry has not expired at now.
func (e entry[V]) fresh(now time.Time) bool {
	return e.expires.IsZero() || now.Before(e.expires)
}

// New returns a cache of at most size entries (DefaultSize if size < 1).
func New[K comparable, V any](size int) *Cache[K, V] {
	return &Cache[K, V]{size: size}
}

// list returns the LRU list, making it on first use. c.mu is held.
func (c *Cache[K, V]) list() *simplelru.LRU[K, entry[V]] {
	if c.lru == nil {
		size := c.size
		if size < 1 {
			size = DefaultSize
		}
		// NewLRU fails only for a size below 1.
		c.lru, _ = simplelru.NewLRU[K, entry[V]](size, nil)
	}
	return c.lru
}

// Get returns the key's value if it has one that has not expired at now,
// and marks the key as recently used. An expired entry stays until it is
// replaced or makes room.
func (c *Cache[K, V]) Get(key K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.list().Get(key)
	if !ok || !e.fresh(now) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Add sets the key's value, valid until expires (the zero time: until it
// is removed or makes room), and marks the key as recently used.
func (c *Cache[K, V]) Add(key K, v V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list().Add(key, entry[V]{v: v, expires: expires})
}

// GetOrAdd returns the key's value as Get does if it has one; otherwise
// it adds v, valid until expires, and returns v. Concurrent callers thus
// all get the first value added.
func (c *Cache[K, V]) GetOrAdd(key K, now time.Time, v V, expires time.Time) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.list()
	if e, ok := l.Get(key); ok && e.fresh(now) {
		return e.v
	}
	l.Add(key, entry[V]{v: v, expires: expires})
	return v
}

// Remove forgets the key.
func (c *Cache[K, V]) Remove(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list().Remove(key)
}

// RemoveFunc forgets every key for which match returns true. It walks the
// whole cache under its lock: for rare invalidations, not for a hot path.
func (c *Cache[K, V]) RemoveFunc(match func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.list()
	for _, k := range l.Keys() {
		if match(k) {
			l.Remove(k)
		}
	}
}

// Len returns the number of entries, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.list().Len()
}
