package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
)

// message is what the checks in front of the SDK need of a POST body,
// read once by readBody: the body itself and its top level.
type message struct {
	body []byte
	// err is the error that ended reading the body, if any; body is then
	// what was read before it.
	err error
	// tooLarge reports a body longer than the limit (body holds the limit
	// and one byte).
	tooLarge bool
	// batch reports a body whose first non-blank byte is '['.
	batch bool
	// single reports a body that is one JSON object whose top-level keys
	// were read without error and are all distinct; the fields below are
	// set only for it.
	single bool
	// method is the "method" member; hasMethod reports it present as a
	// string.
	method    string
	hasMethod bool
	// rawID is the "id" member as sent; id is it written the way the
	// SDK's decoded ID marshals (normalizeID), "" when absent or invalid.
	rawID json.RawMessage
	id    string
	// params is the "params" member as sent.
	params json.RawMessage
	// version is the "jsonrpc" member; other reports a top-level key
	// other than jsonrpc, id, method and params.
	version string
	other   bool
	// cancelID is, for notifications/cancelled, the request ID it names
	// (normalized as id).
	cancelID string
}

type messageKey struct{}

// messageOf returns the message read by readBody, or nil for a request it
// did not read (not a POST, or no body).
func messageOf(ctx context.Context) *message {
	m, _ := ctx.Value(messageKey{}).(*message)
	return m
}

// readBody reads the body of a POST once, up to the body limit and one
// byte, and peeks at its top level. The checks after it (batchLimit,
// methods, cancellable, the fast path) use what it found; the SDK reads
// the same bytes again from the body, which is replaced by them (and what
// is left of the original after an error, so the SDK sees the same
// error).
func (s *Server) readBody(next http.Handler) http.Handler {
	limit := s.bodyLimit()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		m := &message{}
		m.body, m.err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		if m.err != nil {
			r.Body = readCloser{io.MultiReader(bytes.NewReader(m.body), r.Body), r.Body}
		} else {
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(m.body))
		}
		m.tooLarge = int64(len(m.body)) > limit
		m.batch = firstNonBlank(m.body) == '['
		if m.err == nil && !m.tooLarge && !m.batch {
			m.peek()
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), messageKey{}, m)))
	})
}

// firstNonBlank returns the first byte of b that is not JSON whitespace,
// or 0.
func firstNonBlank(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// peek reads the top level of a single JSON-RPC message.
func (m *message) peek() {
	d := jsontext.NewDecoder(bytes.NewReader(m.body))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return
	}
	for d.PeekKind() == '"' {
		tok, err := d.ReadToken()
		if err != nil {
			return
		}
		name := tok.String() // before the next read voids tok
		v, err := d.ReadValue()
		if err != nil {
			return
		}
		switch name {
		case "id":
			m.rawID = bytes.Clone(v) // v is valid only until the next read
			m.id = normalizeID(v)
		case "method":
			m.hasMethod = json.Unmarshal(v, &m.method) == nil
		case "params":
			m.params = bytes.Clone(v)
		case "jsonrpc":
			_ = json.Unmarshal(v, &m.version)
		default:
			m.other = true
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return // something after the object
	}
	m.single = true
	if m.method == "notifications/cancelled" && m.params != nil {
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.params, &p) == nil && len(p.RequestID) > 0 {
			m.cancelID = normalizeID(p.RequestID)
		}
	}
}

// normalizeID writes a JSON-RPC ID the way the SDK's decoded ID marshals.
func normalizeID(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

type readCloser struct {
	io.Reader
	io.Closer
}
