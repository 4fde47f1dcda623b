package govern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
)

// Limits of the arguments a governed call may have, and of the copy the
// audit trail keeps.
const (
	// MaxArgsDepth is the deepest nesting of objects and arrays accepted.
	MaxArgsDepth = 64
	// MaxStoredValueBytes is the longest string value the audit trail
	// keeps as it is; a longer one is stored as an oversize marker with
	// its byte count and digest (OversizedMarker).
	MaxStoredValueBytes = 16 << 10
	// MaxStoredArgsBytes is the most the trail keeps of one call's
	// arguments, after redaction and markers; beyond it the whole
	// arguments are stored as one marker. It is the audit writer's own
	// limit, so a call's arguments can always be recorded.
	MaxStoredArgsBytes = audit.MaxJSONBytes
)

// Args is a governed call's arguments, decoded exactly once. Schema
// validation, the PII scan, the policy input, the connector and the audit
// record all use this one value.
type Args struct {
	// Raw is the arguments as received ({} when none were sent).
	Raw json.RawMessage
	// Value is the decoded object; numbers are json.Number, so their
	// digits survive.
	Value map[string]any
	// Digest is the digest of the full, unredacted arguments.
	Digest string
	// Findings are the personal data and secrets in the arguments.
	Findings []pii.Finding
	// Stored is what the audit trail keeps: the arguments with the
	// findings redacted and oversized strings replaced by markers, or a
	// marker for the whole when even that is too large.
	Stored json.RawMessage
}

// DecodeArgs decodes a call's arguments. It refuses, with a KindInvalid
// error naming the problem and where it is, what the audit trail could
// not record faithfully or what could be read two ways: invalid JSON,
// duplicate object member names, invalid UTF-8 (raw bytes or lone
// surrogate escapes such as \ud800), nesting deeper than MaxArgsDepth,
// and anything but an object.
func DecodeArgs(raw []byte) (*Args, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		raw = []byte(`{}`)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, vargate.Invalid("arguments", "must be a JSON object")
	}
	// The decoder refused everything RFC 8785 cannot canonicalise, so
	// the canonical form is there: it gives the digest and, when nothing
	// is redacted or too long, the stored copy.
	canonical := jsontext.Value(bytes.Clone(raw))
	if err := canonical.Canonicalize(); err != nil {
		return nil, argsError(err)
	}
	a := &Args{Raw: json.RawMessage(raw), Value: obj, Digest: audit.DigestCanonical(canonical)}
	a.Findings = pii.ScanValue(obj)
	stored := pii.RedactFindings(obj, a.Findings)
	stored, changed := shrink(stored)
	switch {
	case len(a.Findings) == 0 && !changed && len(canonical) <= MaxStoredArgsBytes:
		a.Stored = json.RawMessage(canonical)
	case len(a.Findings) == 0 && !changed:
		a.Stored = wholeMarker(len(raw), a.Digest)
	default:
		a.Stored = storedArgs(stored, len(raw), a.Digest)
	}
	return a, nil
}

// decodeJSON decodes one JSON document strictly (see DecodeArgs).
func decodeJSON(raw []byte) (any, error) {
	d := jsontext.NewDecoder(bytes.NewReader(raw))
	v, err := decodeValue(d, 0)
	if err != nil {
		return nil, argsError(err)
	}
	if _, err := d.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, vargate.Invalid("arguments", "not valid JSON: data after the end of the object")
	}
	return v, nil
}

var errTooDeep = fmt.Errorf("nested more than %d levels deep", MaxArgsDepth)

func decodeValue(d *jsontext.Decoder, depth int) (any, error) {
	switch d.PeekKind() {
	case '{':
		if depth >= MaxArgsDepth {
			return nil, errTooDeep
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		m := map[string]any{}
		for d.PeekKind() != '}' {
			tok, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			k := tok.String()
			if m[k], err = decodeValue(d, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := d.ReadToken()
		return m, err
	case '[':
		if depth >= MaxArgsDepth {
			return nil, errTooDeep
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		a := []any{}
		for d.PeekKind() != ']' {
			e, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, e)
		}
		_, err := d.ReadToken()
		return a, err
	case '0':
		v, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		return json.Number(string(v)), nil
	}
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '"':
		return tok.String(), nil
	case 't', 'f':
		return tok.Bool(), nil
	case 'n':
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %v", tok.Kind())
}

// argsError turns a decoding error into a message for the agent.
func argsError(err error) error {
	if errors.Is(err, errTooDeep) {
		return vargate.Invalid("arguments", "%v", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return vargate.Invalid("arguments", "not valid JSON: the document ends early")
	}
	msg := strings.TrimPrefix(err.Error(), "jsontext: ")
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	return vargate.Invalid("arguments", "not valid JSON: %s", msg)
}

// OversizedMarker is what the trail stores in place of a value too large
// to keep: its size in bytes and the SHA-256 of its bytes.
func OversizedMarker(b []byte) string {
	return fmt.Sprintf("[OVERSIZED: %d bytes, %s]", len(b), audit.BytesDigest(b))
}

// storedArgs encodes the audit copy of the redacted and shrunk
// arguments; one still over MaxStoredArgsBytes is replaced by one marker
// for the whole arguments, naming their size and digest (of the full,
// unredacted arguments).
func storedArgs(v any, rawLen int, digest string) json.RawMessage {
	b, err := marshalCompact(v)
	if err == nil {
		// The trail canonicalises (RFC 8785), which never lengthens
		// strings but may lengthen numbers (1e9 → 1000000000): measure
		// the canonical form.
		c := jsontext.Value(b)
		if c.Canonicalize() == nil && len(c) <= MaxStoredArgsBytes {
			return json.RawMessage(c)
		}
	}
	return wholeMarker(rawLen, digest)
}

// wholeMarker stands for arguments that could not be stored at all.
func wholeMarker(n int, digest string) json.RawMessage {
	b, _ := json.Marshal(fmt.Sprintf("[OVERSIZED: %d bytes, %s]", n, digest))
	return b
}

// shrink replaces strings longer than MaxStoredValueBytes (and object
// keys of that length) by markers, copying only what changes. It reports
// whether anything changed.
func shrink(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		if len(x) > MaxStoredValueBytes {
			return OversizedMarker([]byte(x)), true
		}
	case json.Number:
		if len(x) > MaxStoredValueBytes {
			return OversizedMarker([]byte(x)), true
		}
	case []any:
		var cp []any
		for i, e := range x {
			if r, changed := shrink(e); changed {
				if cp == nil {
					cp = append([]any(nil), x...)
				}
				cp[i] = r
			}
		}
		return cpOr(cp, x)
	case map[string]any:
		var cp map[string]any
		for k, e := range x {
			r, changed := shrink(e)
			nk := k
			if len(k) > MaxStoredValueBytes {
				nk, changed = OversizedMarker([]byte(k)), true
			}
			if !changed {
				continue
			}
			if cp == nil {
				cp = make(map[string]any, len(x))
				for k2, e2 := range x {
					cp[k2] = e2
				}
			}
			delete(cp, k)
			cp[nk] = r
		}
		if cp != nil {
			return cp, true
		}
	}
	return v, false
}

func cpOr(cp, x []any) (any, bool) {
	if cp != nil {
		return cp, true
	}
	return x, false
}

// marshalCompact encodes v without HTML escapes.
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// rawDigest is the digest of arguments that could not be decoded: their
// bytes as they are.
func rawDigest(raw []byte) string { return audit.BytesDigest(raw) }

// validUTF8 returns s with invalid bytes replaced, cut to n bytes.
func validUTF8(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return truncate(s, n)
}
