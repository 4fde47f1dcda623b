package tools

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/vargate/vargate"
)

// Redacted replaces a credential value (or an encoding of one) found in a
// tool's response or error.
const Redacted = "[REDACTED:credential]"

// minScrubLen is the shortest form a scrubber looks for: shorter strings
// would erase ordinary text, and a value that short is no secret.
const minScrubLen = 6

// scrubber removes the credential values released for one call from what
// the call returns: an upstream that echoes its request (or an error that
// quotes the URL) must not hand a value to the agent, the audit trail or
// the log. Each value is looked for raw and in its common encodings:
// JSON-escaped, URL-encoded, hex, and base64 (standard and URL alphabets,
// at every alignment inside a longer encoded text).
type scrubber struct {
	forms []string
}

// add registers a released value (and, for a composite injection such as
// Basic auth, the exact string sent).
func (s *scrubber) add(values ...string) {
	for _, v := range values {
		if len(v) < minScrubLen {
			continue
		}
		s.addForm(v)
		if b, err := json.Marshal(v); err == nil {
			s.addForm(string(b[1 : len(b)-1]))
		}
		s.addForm(url.QueryEscape(v))
		s.addForm(url.PathEscape(v))
		s.addForm(hex.EncodeToString([]byte(v)))
		s.addForm(strings.ToUpper(hex.EncodeToString([]byte(v))))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for _, f := range base64Cores(enc, []byte(v)) {
				// A core is random-looking; four characters (three bytes)
				// are specific enough.
				s.addFormMin(f, 4)
			}
		}
	}
}

func (s *scrubber) addForm(f string) { s.addFormMin(f, minScrubLen) }

func (s *scrubber) addFormMin(f string, min int) {
	if len(f) < min {
		return
	}
	for _, x := range s.forms {
		if x == f {
			return
		}
	}
	s.forms = append(s.forms, f)
}

// base64Cores returns, for each of the three alignments a value can have
// inside a longer base64 text, the run of characters that encodes only
// bytes of the value: whatever surrounds the value, that run appears.
func base64Cores(enc *base64.Encoding, v []byte) []string {
	var out []string
	for k := range 3 {
		buf := append(make([]byte, k), v...)
		e := strings.TrimRight(enc.EncodeToString(buf), "=")
		start := 0
		if k > 0 {
			start = 4 // the first group mixes the unknown prefix in
		}
		end := (len(buf) / 3) * 4 // a last partial group mixes the suffix in
		if end > start {
			out = append(out, e[start:end])
		}
	}
	return out
}

// empty reports whether there is nothing to scrub.
func (s *scrubber) empty() bool { return s == nil || len(s.forms) == 0 }

// bytes returns b with every form replaced.
func (s *scrubber) bytes(b []byte) []byte {
	if s.empty() {
		return b
	}
	for _, f := range s.forms {
		if bytes.Contains(b, []byte(f)) {
			b = bytes.ReplaceAll(b, []byte(f), []byte(Redacted))
		}
	}
	return b
}

func (s *scrubber) string(v string) string {
	if s.empty() {
		return v
	}
	return string(s.bytes([]byte(v)))
}

// result scrubs a connector's result and error. A scrubbed error keeps
// its kind, field and message (scrubbed too) but not its cause: the
// cause's text is replaced, so that no chain leads back to the value.
func (s *scrubber) result(res Result, err error) (Result, error) {
	if s.empty() {
		return res, err
	}
	if len(res.Structured) > 0 {
		scrubbed := s.bytes(res.Structured)
		if !json.Valid(scrubbed) {
			// A value that matched across the JSON's own syntax: keep the
			// scrubbed text, as a string.
			scrubbed, _ = json.Marshal(map[string]string{"scrubbed_result": string(scrubbed)})
		}
		res.Structured = scrubbed
	}
	res.Text = s.string(res.Text)
	if err == nil {
		return res, nil
	}
	text := err.Error()
	if scrubbed := s.string(text); scrubbed == text {
		return res, err
	}
	var ve *vargate.Error
	if errors.As(err, &ve) {
		out := &vargate.Error{Kind: ve.Kind, Field: ve.Field, Message: s.string(ve.Message)}
		if ve.Err != nil {
			out.Err = errors.New(s.string(ve.Err.Error()))
		}
		return res, out
	}
	return res, errors.New(s.string(text))
}

// databasePassword returns the password inside a PostgreSQL DSN (URL or
// key=value form), or "".
func databasePassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	for f := range strings.FieldsSeq(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}
