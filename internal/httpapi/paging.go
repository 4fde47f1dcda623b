package httpapi

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

// The list routes page the same way: ?limit= (1 to the capability's
// MaxListLimit; absent means its default) and a position to continue
// from: ?before= (a time, next_before of the previous page), ?cursor=
// (opaque) or, for the audit trail, a record seq. Out-of-range values are
// refused (422 naming the parameter), never clamped, so a client learns
// of its mistake.

// queryLimit reads the optional limit parameter (0 when absent, which the
// stores read as their default page size).
func queryLimit(q url.Values, max int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, vargate.Invalid("limit", "must be a whole number from 1 to %d", max)
	}
	return n, nil
}

// encodeCursor makes the opaque pagination cursor of a list sorted by
// creation time and ID, newest first.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	if c == "" {
		return time.Time{}, "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		us, id, ok := strings.Cut(string(raw), ":")
		if n, perr := strconv.ParseInt(us, 10, 64); ok && perr == nil && id != "" {
			return time.UnixMicro(n).UTC(), id, nil
		}
	}
	return time.Time{}, "", vargate.Invalid("cursor", "is not a cursor this API returned")
}

// queryBefore reads the optional before parameter, an RFC 3339 time (the
// zero time when absent).
func queryBefore(q url.Values) (time.Time, error) {
	v := q.Get("before")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, vargate.Invalid("before", "must be an RFC 3339 time (next_before of the previous page)")
	}
	return t, nil
}
