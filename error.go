package vargate

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error. The set is closed: adapters map each kind to
// one HTTP status and one JSON-RPC code, and anything else is internal.
type Kind string

// The error kinds.
const (
	KindInvalid      Kind = "invalid"
	KindNotFound     Kind = "not_found"
	KindConflict     Kind = "conflict"
	KindUnauthorized Kind = "unauthorized"
	KindForbidden    Kind = "forbidden"
	KindRateLimited  Kind = "rate_limited"
	KindUnavailable  Kind = "unavailable"
	KindUpstream     Kind = "upstream"
	KindInternal     Kind = "internal"
)

// Kinds returns every error kind, in the order declared above.
func Kinds() []Kind {
	return []Kind{KindInvalid, KindNotFound, KindConflict, KindUnauthorized, KindForbidden,
		KindRateLimited, KindUnavailable, KindUpstream, KindInternal}
}

// httpStatus is the one table from error kind to HTTP status, shared by
// the JSON API (httpapi) and the dashboard (web) so both answer the same
// status for the same error.
var httpStatus = map[Kind]int{
	KindInvalid:      http.StatusUnprocessableEntity,
	KindNotFound:     http.StatusNotFound,
	KindConflict:     http.StatusConflict,
	KindUnauthorized: http.StatusUnauthorized,
	KindForbidden:    http.StatusForbidden,
	KindRateLimited:  http.StatusTooManyRequests,
	KindUnavailable:  http.StatusServiceUnavailable,
	KindUpstream:     http.StatusBadGateway,
	KindInternal:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status that answers an error of kind k. A
// kind outside the closed set counts as internal (500).
func (k Kind) HTTPStatus() int {
	if status, ok := httpStatus[k]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// HTTPStatus returns the HTTP status that answers err: that of its kind
// (KindOf), so an error of no known kind is a 500.
func HTTPStatus(err error) int { return KindOf(err).HTTPStatus() }

// Error is the error type every package returns for failures a caller can
// act on. Message is safe to show to the client; Err (if any) is for the
// operator's log only.
type Error struct {
	Kind    Kind
	Field   string // the request field at fault, for KindInvalid
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a KindInvalid error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a KindNotFound error for the named thing.
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Message: what + " not found"}
}

// Wrap returns an *Error of the given kind that keeps err for the log.
func Wrap(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of err: the Kind of the first *Error in its chain,
// or KindInternal for anything else.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool { return err != nil && KindOf(err) == k }
