package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

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
		m.body, m.err = readLimited(r.Body, limit+1, r.ContentLength)
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

// readLimited reads r to its end, or to n bytes, as
// io.ReadAll(io.LimitReader(r, n)) does, in one allocation when the
// request says its length (size, -1 if unknown) and it is not large: a
// large body grows as it arrives, so a client cannot make the gateway
// hold memory it has not sent.
func readLimited(r io.Reader, n, size int64) ([]byte, error) {
	c := int64(512)
	if size >= 0 && size < n && size < maxPresized {
		c = size + 1 // room to read the end without growing
	}
	b := make([]byte, 0, c)
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		k, err := r.Read(b[len(b):min(int64(cap(b)), n)])
		b = b[:len(b)+k]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// maxPresized bounds the buffer readLimited makes before reading.
const maxPresized = 64 << 10

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

// peek reads the top level of a single JSON-RPC message. The members it
// keeps (rawID, params) are slices of body, which nothing writes to.
func (m *message) peek() {
	sc := newScanner(m.body)
	defer sc.release()
	d := &sc.d
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return
	}
	for d.PeekKind() == '"' {
		name, err := sc.name()
		if err != nil {
			return
		}
		switch string(name) { // before the next read voids name
		case "id":
			v, err := sc.value()
			if err != nil {
				return
			}
			m.rawID = v
			m.id = normalizeID(v)
		case "method":
			// As json.Unmarshal into a string: a string, or null (which
			// leaves it empty); anything else is not a method.
			s, kind, err := sc.stringOrValue()
			if err != nil {
				return
			}
			m.method, m.hasMethod = s, kind == '"' || kind == 'n'
		case "params":
			if m.params, err = sc.value(); err != nil {
				return
			}
		case "jsonrpc":
			s, _, err := sc.stringOrValue()
			if err != nil {
				return
			}
			m.version = s
		default:
			if _, err := d.ReadValue(); err != nil {
				return
			}
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

// scanner reads one JSON text with a reused decoder (jsontext's keeps
// its buffers across Reset), and hands out its values as slices of the
// text instead of copies.
type scanner struct {
	text    []byte
	r       bytes.Reader
	d       jsontext.Decoder
	scratch []byte // an unescaped name
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// newScanner returns a scanner of text; release it when done.
func newScanner(text []byte) *scanner {
	sc := scanners.Get().(*scanner)
	sc.text = text
	sc.r.Reset(text)
	sc.d.Reset(&sc.r)
	return sc
}

// release returns the scanner to the pool, without its text.
func (sc *scanner) release() {
	sc.text = nil
	sc.r.Reset(nil)
	sc.d.Reset(&sc.r)
	scanners.Put(sc)
}

// value reads the next value and returns it as a slice of the text.
func (sc *scanner) value() ([]byte, error) {
	v, err := sc.d.ReadValue()
	if err != nil {
		return nil, err
	}
	end := sc.d.InputOffset()
	return sc.text[end-int64(len(v)) : end : end], nil
}

// name reads the next object member's name and returns it unquoted,
// valid until the next read. Compare it as string(name) == "…", which
// does not allocate.
func (sc *scanner) name() ([]byte, error) {
	v, err := sc.d.ReadValue() // a name, as the decoder checked it
	if err != nil {
		return nil, err
	}
	if len(v) < 2 || v[0] != '"' {
		return nil, errNotName
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	sc.scratch, err = jsontext.AppendUnquote(sc.scratch[:0], v)
	return sc.scratch, err
}

var errNotName = errors.New("not an object member's name")

// stringOrValue reads the next value and returns its kind and, for a
// string, its unquoted text.
func (sc *scanner) stringOrValue() (string, jsontext.Kind, error) {
	if sc.d.PeekKind() == '"' {
		tok, err := sc.d.ReadToken()
		if err != nil {
			return "", 0, err
		}
		return tok.String(), '"', nil
	}
	v, err := sc.d.ReadValue()
	if err != nil {
		return "", 0, err
	}
	return "", v.Kind(), nil
}

// normalizeID writes a JSON-RPC ID the way the SDK's decoded ID marshals.
func normalizeID(raw []byte) string {
	if plainID(raw) {
		return string(raw)
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// plainID reports whether a JSON value (valid, as read by the decoder)
// is an ID that decodes and marshals back to the same bytes: an integer
// of at most 15 digits (exact as a float64, written without exponent) or
// a string of printable ASCII that encoding/json writes unescaped (no
// backslash, no <, > or &).
func plainID(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	if raw[0] == '"' {
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return false
		}
		for _, c := range raw[1 : len(raw)-1] {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
		}
		return true
	}
	digits := raw
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

type readCloser struct {
	io.Reader
	io.Closer
}
