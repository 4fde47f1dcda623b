package audit

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The writers of RFC 8785 (JCS) JSON below let the gateway encode the
// records it writes most (a governed call's detail) directly in the
// canonical form, instead of encoding/json followed by canonicalisation.
// Normalize still canonicalises what they write: they save the encoding,
// and a mistake in them could change only the formatting, never the
// record's content.

// CanonicalAppender is a value that appends itself as RFC 8785 JSON: the
// document encoding/json would write for it, in canonical form.
type CanonicalAppender interface {
	AppendCanonicalJSON(b []byte) ([]byte, error)
}

// AppendCanonicalString appends s as an RFC 8785 JSON string: only '"',
// '\' and control characters escaped, everything else as UTF-8. Invalid
// UTF-8 becomes U+FFFD, as encoding/json does.
func AppendCanonicalString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendCanonicalNumber appends f as RFC 8785 writes a number (the
// ECMAScript form: 420, 0.1, 1e-7, 1e+21). NaN and infinities have no
// JSON form and are an error, as in encoding/json.
func AppendCanonicalNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	if f == 0 {
		return append(b, '0'), nil // -0 too
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// AppendCanonicalInt appends n as RFC 8785 writes it: exactly, within
// ±2^53; beyond, as the double it rounds to.
func AppendCanonicalInt(b []byte, n int64) []byte {
	if n > 1<<53 || n < -(1<<53) {
		b, _ = AppendCanonicalNumber(b, float64(n))
		return b
	}
	return strconv.AppendInt(b, n, 10)
}

// AppendCanonicalStrings appends ss as a JSON array of strings ([] for
// none).
func AppendCanonicalStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendCanonicalString(b, s)
	}
	return append(b, ']')
}

// EncodeDetail returns d encoded as RFC 8785 JSON.
func (d *GovernedDetail) EncodeDetail() (json.RawMessage, error) {
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	if d.Error != "" {
		b = append(b, `"error":`...)
		b = AppendCanonicalString(b, d.Error)
		b = append(b, ',')
	}
	if d.Input != nil {
		b = append(b, `"input":`...)
		var err error
		if b, err = appendValue(b, d.Input); err != nil {
			return nil, err
		}
		b = append(b, ',')
	}
	b = append(b, `"latency_us":`...)
	b = d.Latency.appendCanonical(b)
	return append(b, '}'), nil
}

// EncodeDetail returns d encoded as RFC 8785 JSON.
func (d *OutcomeDetail) EncodeDetail() (json.RawMessage, error) {
	b := make([]byte, 0, 128)
	b = append(b, '{')
	if d.Error != "" {
		b = append(b, `"error":`...)
		b = AppendCanonicalString(b, d.Error)
		b = append(b, ',')
	}
	b = append(b, `"latency_us":`...)
	b = d.Latency.appendCanonical(b)
	return append(b, '}'), nil
}

func (l Latency) appendCanonical(b []byte) []byte {
	b = append(b, `{"connector":`...)
	b = AppendCanonicalInt(b, l.ConnectorUS)
	b = append(b, `,"policy":`...)
	b = AppendCanonicalInt(b, l.PolicyUS)
	b = append(b, `,"total":`...)
	b = AppendCanonicalInt(b, l.TotalUS)
	return append(b, '}')
}

// appendValue appends v in canonical form when it can append itself, and
// as encoding/json writes it otherwise (Normalize canonicalises it).
func appendValue(b []byte, v any) ([]byte, error) {
	if c, ok := v.(CanonicalAppender); ok {
		return c.AppendCanonicalJSON(b)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}
