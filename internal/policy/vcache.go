package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// maxListed is how many rule values virtualCache keeps in its list
// before it hands over to OPA's own cache.
const maxListed = 32

// virtualCache is a topdown.VirtualCache for one evaluation: it remembers
// the value of each rule the evaluation has computed, as OPA's own cache
// does, but in a short list rather than a tree of hash maps. A decision
// computes a handful of rules, and OPA's cache made a sixth of the
// evaluation's allocations. The answers are the same (undefined results
// included); a policy that computes more than maxListed values at one
// level gets OPA's cache, with what the list held moved into it, so that
// lookups never degrade to a long linear search.
type virtualCache struct {
	top   []vcEntry   // the active frame
	below [][]vcEntry // the frames Push put aside, innermost last
	buf   [8]vcEntry  // the first frame's first entries

	opa topdown.VirtualCache // once set, it serves every call
}

type vcEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
	// short holds the copy of a short ref. When the list grows and moves,
	// the refs of the entries moved keep pointing into the old array,
	// which nothing writes to any more.
	short [6]*ast.Term
}

func newVirtualCache() *virtualCache {
	c := &virtualCache{}
	c.top = c.buf[:0]
	return c
}

// Push starts a new, empty frame (evaluation under `with`).
func (c *virtualCache) Push() {
	if c.opa != nil {
		c.opa.Push()
		return
	}
	c.below = append(c.below, c.top)
	c.top = nil
}

// Pop drops the active frame and returns to the one below it.
func (c *virtualCache) Pop() {
	if c.opa != nil {
		c.opa.Pop()
		return
	}
	if n := len(c.below); n > 0 {
		c.top = c.below[n-1]
		c.below = c.below[:n-1]
		return
	}
	c.top = nil
}

// Get returns the value remembered for ref: (value, false) when it is
// defined, (nil, true) when it is undefined, (nil, false) when nothing is
// remembered.
func (c *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if c.opa != nil {
		return c.opa.Get(ref)
	}
	if e := c.find(ref); e != nil {
		if e.undefined {
			return nil, true
		}
		return e.value, false
	}
	return nil, false
}

// Put remembers ref's value; nil means it is undefined.
func (c *virtualCache) Put(ref ast.Ref, value *ast.Term) {
	if c.opa != nil {
		c.opa.Put(ref, value)
		return
	}
	e := c.find(ref)
	if e == nil {
		if len(c.top) == maxListed {
			c.handOver()
			c.opa.Put(ref, value)
			return
		}
		c.top = append(c.top, vcEntry{})
		e = &c.top[len(c.top)-1]
		// The caller's ref may be a buffer it reuses: keep a copy.
		if len(ref) <= len(e.short) {
			e.ref = append(e.short[:0:len(e.short)], ref...)
		} else {
			e.ref = append(ast.Ref(nil), ref...)
		}
	}
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

// Keys returns the refs of the active frame that have a value.
func (c *virtualCache) Keys() []ast.Ref {
	if c.opa != nil {
		return c.opa.Keys()
	}
	var keys []ast.Ref
	for i := range c.top {
		if c.top[i].value != nil {
			keys = append(keys, c.top[i].ref)
		}
	}
	return keys
}

func (c *virtualCache) find(ref ast.Ref) *vcEntry {
	for i := range c.top {
		if c.top[i].ref.Equal(ref) {
			return &c.top[i]
		}
	}
	return nil
}

// handOver moves every frame into OPA's cache, which serves from then on.
func (c *virtualCache) handOver() {
	opa := topdown.NewVirtualCache()
	put := func(frame []vcEntry) {
		for i := range frame {
			e := &frame[i]
			if e.value != nil {
				opa.Put(e.ref, e.value)
			}
			if e.undefined {
				opa.Put(e.ref, nil)
			}
		}
	}
	for _, frame := range c.below {
		put(frame)
		opa.Push()
	}
	put(c.top)
	c.opa, c.top, c.below = opa, nil, nil
}
