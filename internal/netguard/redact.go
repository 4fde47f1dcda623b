package netguard

import (
	"errors"
	"net/url"
	"strings"
)

// RedactedValue replaces a query value or a password in a redacted URL.
const RedactedValue = "REDACTED"

// RedactURL returns raw with the values of its query parameters and the
// password of its user info replaced, for errors and log lines: a URL an
// outbound request used may carry a credential (vargate_http_request's
// "query.NAME" credentials, tenant tools with in=query, webhook URLs with
// tokens). Parameter names, host and path stay, so the line is still
// useful. Text that does not parse as a URL is returned with everything
// after the first '?' or '#' removed.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i] + "?" + RedactedValue
		}
		return raw
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), RedactedValue)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = RedactedValue
		} else {
			for k, vs := range q {
				for i := range vs {
					vs[i] = RedactedValue
				}
				q[k] = vs
			}
			u.RawQuery = q.Encode()
		}
	}
	if u.Fragment != "" {
		u.Fragment = RedactedValue
	}
	return u.String()
}

// RedactError returns err with the URL of every *url.Error in its chain
// redacted (RedactURL). The http client's errors quote the whole URL they
// were given; everything that logs or stores an outbound request's error
// passes it through here first.
func RedactError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	// Copy rather than edit: the caller may hold the original.
	redacted := &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: RedactError(ue.Err)}
	if ue == err {
		return redacted
	}
	// The *url.Error is wrapped: keep the wrapping's text from leaking
	// the URL too by rebuilding the message around the redacted error.
	return &redactedError{msg: strings.ReplaceAll(err.Error(), ue.Error(), redacted.Error()), err: redacted}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
