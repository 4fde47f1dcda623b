package sim

import (
	"cmp"
	"net/http"
	"slices"
	"time"
)

// record is what every stored top-level resource (agent, environment,
// vault, credential, session) has: its ID, its creation order (the
// position list cursors point at) and when it was archived (nil while
// active).
type record struct {
	id         string
	seq        int64
	archivedAt *time.Time
}

// rec gives the generic helpers the record of a resource.
func (r *record) rec() *record { return r }

// newRecord returns the record of a resource being created: a fresh ID
// with the type's prefix and the next creation-order number. The caller
// holds s.mu.
func (s *Server) newRecord(prefix string) record {
	return record{id: newID(prefix), seq: s.nextSeq()}
}

// stored is a top-level resource, which embeds a record.
type stored interface{ rec() *record }

// collection holds the stored resources of one type by ID. The caller of
// every method holds s.mu.
type collection[T stored] struct {
	noun  string // how errors name one: "Agent"
	items map[string]T
}

func newCollection[T stored](noun string) *collection[T] {
	return &collection[T]{noun: noun, items: map[string]T{}}
}

// get returns the resource with that ID, or the API's not-found error.
func (c *collection[T]) get(id string) (T, error) {
	v, ok := c.items[id]
	if !ok {
		return v, notFound("%s %s not found", c.noun, id)
	}
	return v, nil
}

// add stores a new resource.
func (c *collection[T]) add(v T) { c.items[v.rec().id] = v }

// remove deletes a stored resource.
func (c *collection[T]) remove(v T) { delete(c.items, v.rec().id) }

// newestFirst returns the resources keep accepts, newest first.
func (c *collection[T]) newestFirst(keep func(T) bool) []T {
	var list []T
	for _, v := range c.items {
		if keep(v) {
			list = append(list, v)
		}
	}
	slices.SortFunc(list, func(a, b T) int { return cmp.Compare(b.rec().seq, a.rec().seq) })
	return list
}

// at returns the finder of the resource whose ID is the request's path
// value param.
func (c *collection[T]) at(param string) finder[T] {
	return func(r *http.Request) (T, error) { return c.get(r.PathValue(param)) }
}

// handlerFunc is the shape of the simulator's JSON endpoints (see handle).
type handlerFunc = func(http.ResponseWriter, *http.Request) (any, error)

// finder returns the resource a request's path names; the caller holds
// s.mu.
type finder[T any] func(r *http.Request) (T, error)

// getOne answers GET of one resource: the one find names, in wire form.
func getOne[T, W any](s *Server, find finder[T], wire func(T) W) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		v, err := find(r)
		if err != nil {
			return nil, err
		}
		return wire(v), nil
	}
}

// kind is how the generic handlers serve one resource type.
type kind[T stored, W any] struct {
	s     *Server
	items *collection[T]
	find  finder[T] // the resource a request's path names
	wire  func(T) W
	// touch records an archive's time as the resource's last update (nil:
	// the type has none).
	touch func(T, time.Time)
	// remove deletes a resource (and what belongs to it); deleted is the
	// type of the delete's answer ("environment_deleted").
	remove  func(T)
	deleted string
}

// get answers GET of one resource.
func (k kind[T, W]) get() handlerFunc { return getOne(k.s, k.find, k.wire) }

// list answers GET of the list: the resources not archived (every one
// with include_archived=true) that the request's own filter accepts,
// newest first, one page. filter (nil: none) reads the request under s.mu
// and returns what it accepts.
func (k kind[T, W]) list(filter func(*http.Request) (func(T) bool, error)) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		q := r.URL.Query()
		includeArchived, err := queryBool(q, "include_archived")
		if err != nil {
			return nil, err
		}
		k.s.mu.Lock()
		defer k.s.mu.Unlock()
		accept := func(T) bool { return true }
		if filter != nil {
			if accept, err = filter(r); err != nil {
				return nil, err
			}
		}
		list := k.items.newestFirst(func(v T) bool { return (includeArchived || v.rec().archivedAt == nil) && accept(v) })
		page, err := paginate(list, func(v T) int64 { return v.rec().seq }, q, true, false)
		if err != nil {
			return nil, err
		}
		return mapPage(page, k.wire), nil
	}
}

// archive answers the archive of a resource: the first archive stamps it
// (and touches it); archiving again changes nothing.
func (k kind[T, W]) archive() handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		k.s.mu.Lock()
		defer k.s.mu.Unlock()
		v, err := k.find(r)
		if err != nil {
			return nil, err
		}
		if v.rec().archivedAt == nil {
			now := k.s.now()
			v.rec().archivedAt = &now
			if k.touch != nil {
				k.touch(v, now)
			}
		}
		return k.wire(v), nil
	}
}

// delete answers the delete of a resource: its ID and the deleted type.
func (k kind[T, W]) delete() handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		k.s.mu.Lock()
		defer k.s.mu.Unlock()
		v, err := k.find(r)
		if err != nil {
			return nil, err
		}
		k.remove(v)
		return map[string]string{"id": v.rec().id, "type": k.deleted}, nil
	}
}
