package sim

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pagination defaults of the real API: 20 per page, at most 100.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
)

// listPage is one page of a cursor-paginated list: {data, next_page} and,
// for sessions, prev_page. An empty cursor is sent as null.
type listPage[T any] struct {
	Data     []T     `json:"data"`
	NextPage *string `json:"next_page"`
	PrevPage *string `json:"prev_page,omitempty"`
}

// paginate cuts one page out of items, which are already filtered and in
// the requested order. seq gives each item a position that never changes
// (creation order), so cursors stay valid when items are added or deleted.
// desc says whether items are in descending seq order.
func paginate[T any](items []T, seq func(T) int64, q url.Values, desc, withPrev bool) (listPage[T], error) {
	return paginateLimits(items, seq, q, desc, withPrev, defaultPageLimit, maxPageLimit)
}

// paginateLimits is paginate with the endpoint's own default and maximum
// page size (threads: 1000 and 1000, per the SDK's docs).
func paginateLimits[T any](items []T, seq func(T) int64, q url.Values, desc, withPrev bool, defLimit, maxLimit int) (listPage[T], error) {
	limit := defLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return listPage[T]{}, invalid("limit: must be an integer between 1 and %d", maxLimit)
		}
		limit = n
	}
	after := func(a, b int64) bool { // a comes after b in this order
		if desc {
			return a < b
		}
		return a > b
	}
	start, end := 0, len(items)
	if p := q.Get("page"); p != "" {
		back, at, err := decodeCursor(p)
		if err != nil {
			return listPage[T]{}, err
		}
		if back {
			// The last limit items before at.
			end = 0
			for end < len(items) && after(at, seq(items[end])) {
				end++
			}
			start = max(0, end-limit)
		} else {
			for start < len(items) && !after(seq(items[start]), at) {
				start++
			}
		}
	}
	end = min(end, start+limit)
	page := listPage[T]{Data: append([]T{}, items[start:end]...)}
	if end < len(items) && end > start {
		c := encodeCursor(false, seq(items[end-1]))
		page.NextPage = &c
	}
	if withPrev && start > 0 && start < len(items) {
		c := encodeCursor(true, seq(items[start]))
		page.PrevPage = &c
	}
	return page, nil
}

func encodeCursor(back bool, at int64) string {
	dir := "n"
	if back {
		dir = "p"
	}
	return "page_" + base64.RawURLEncoding.EncodeToString([]byte(dir+":"+strconv.FormatInt(at, 10)))
}

func decodeCursor(s string) (back bool, at int64, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "page_"))
	dir, num, ok := strings.Cut(string(raw), ":")
	if err == nil && ok && (dir == "n" || dir == "p") {
		if at, err = strconv.ParseInt(num, 10, 64); err == nil {
			return dir == "p", at, nil
		}
	}
	return false, 0, invalid("page: invalid pagination cursor")
}

// queryValues returns the values of a repeated query parameter, accepting
// both the SDK's bracket form (types[]=a&types[]=b) and the plain form.
func queryValues(q url.Values, name string) []string {
	vals := append(q[name+"[]"], q[name]...)
	var out []string
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// queryEnum returns the values of a repeated query parameter, each of
// which must be one of allowed.
func queryEnum(q url.Values, name string, allowed []string) ([]string, error) {
	vals := queryValues(q, name)
	for _, v := range vals {
		if !slices.Contains(allowed, v) {
			return nil, invalid("%s: Input should be %s, not %q", name, quoteList(allowed), v)
		}
	}
	return vals, nil
}

// queryBool parses an optional boolean query parameter.
func queryBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("%s: must be true or false", name)
	}
	return b, nil
}

// queryOrder parses order=asc|desc and reports whether it is descending.
func queryOrder(q url.Values, defaultDesc bool) (bool, error) {
	switch q.Get("order") {
	case "":
		return defaultDesc, nil
	case "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, invalid("order: must be asc or desc")
}

// timeRange is a created_at[gt|gte|lt|lte] filter.
type timeRange struct {
	gt, gte, lt, lte time.Time
}

func parseTimeRange(q url.Values, name string) (timeRange, error) {
	var r timeRange
	for op, dst := range map[string]*time.Time{"gt": &r.gt, "gte": &r.gte, "lt": &r.lt, "lte": &r.lte} {
		key := name + "[" + op + "]"
		v := q.Get(key)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return r, invalid("%s: must be an RFC 3339 timestamp", key)
		}
		*dst = t
	}
	return r, nil
}

func (r timeRange) contains(t time.Time) bool {
	return (r.gt.IsZero() || t.After(r.gt)) &&
		(r.gte.IsZero() || !t.Before(r.gte)) &&
		(r.lt.IsZero() || t.Before(r.lt)) &&
		(r.lte.IsZero() || !t.After(r.lte))
}
