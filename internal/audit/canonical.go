package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The writers of RFC 8785 (JCS) JSON below let the gateway encode the
// records it writes most (a governed call's detail) directly in the
// canonical form, instead of encoding/json followed by canonicalisation.
// Normalize does not trust them: it checks every JSON field (isCanonical)
// and canonicalises whatever is not already in canonical form, so a
// mistake in them could cost only time, never change a record.

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

// isCanonical reports whether b is exactly one JSON value in the form
// jsontext.Value.Canonicalize writes (RFC 8785), so that canonicalising
// it would return it unchanged. It is a check, not a parser: one pass, no
// allocation. It errs only one way: a false means "not known to be
// canonical" and the caller canonicalises (which also reports invalid
// JSON); a true is never wrong. Hence, conservatively:
//   - object member names must be ASCII without escapes (where byte
//     order is RFC 8785's UTF-16 order) and strictly increasing, which
//     also rules out duplicates;
//   - a string escapes only '"', '\' and control characters, in their
//     shortest form (\n, or \u001f in lower case), and is valid UTF-8;
//   - a number is written as Canonicalize writes it: an integer of at
//     most 15 digits as it is (not -0), anything else exactly as
//     AppendCanonicalNumber formats the double it parses to;
//   - no whitespace, and at most maxCanonicalDepth levels of nesting.
func isCanonical(b []byte) bool {
	n, ok := canonicalValue(b, 0, 0)
	return ok && n == len(b)
}

// maxCanonicalDepth bounds the nesting isCanonical follows; deeper values
// take the slow path (Canonicalize allows 10,000 levels).
const maxCanonicalDepth = 256

// canonicalValue checks the value starting at b[i] and returns the offset
// just after it.
func canonicalValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		n, _, ok := canonicalString(b, i)
		return n, ok
	case c == '{':
		return canonicalObject(b, i, depth+1)
	case c == '[':
		return canonicalArray(b, i, depth+1)
	case c == '-' || '0' <= c && c <= '9':
		return canonicalNumber(b, i)
	case c == 't':
		return i + 4, bytes.HasPrefix(b[i:], []byte("true"))
	case c == 'f':
		return i + 5, bytes.HasPrefix(b[i:], []byte("false"))
	case c == 'n':
		return i + 4, bytes.HasPrefix(b[i:], []byte("null"))
	}
	return i, false
}

func canonicalObject(b []byte, i, depth int) (int, bool) {
	if depth > maxCanonicalDepth {
		return i, false
	}
	i++ // '{'
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	var prev []byte
	for first := true; ; first = false {
		start := i
		n, plain, ok := canonicalString(b, i)
		if !ok || !plain {
			return i, false
		}
		name := b[start+1 : n-1]
		if !first && bytes.Compare(prev, name) >= 0 {
			return i, false
		}
		prev = name
		if n >= len(b) || b[n] != ':' {
			return n, false
		}
		if i, ok = canonicalValue(b, n+1, depth); !ok || i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func canonicalArray(b []byte, i, depth int) (int, bool) {
	if depth > maxCanonicalDepth {
		return i, false
	}
	i++ // '['
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = canonicalValue(b, i, depth); !ok || i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// canonicalString checks the string starting at b[i]; plain
// reports that it is printable ASCII without escapes.
func canonicalString(b []byte, i int) (n int, plain, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false, false
	}
	i++
	plain = true
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return i, false, false
			}
			switch b[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
				// Only the control characters without a short form, in
				// lower case: \u0000-\u001f but \b \t \n \f \r.
				if i+6 > len(b) || b[i+2] != '0' || b[i+3] != '0' || (b[i+4] != '0' && b[i+4] != '1') {
					return i, false, false
				}
				x := b[i+5]
				switch {
				case '0' <= x && x <= '9':
					x -= '0'
				case 'a' <= x && x <= 'f':
					x -= 'a' - 10
				default:
					return i, false, false
				}
				switch (b[i+4]-'0')<<4 | x {
				case '\b', '\t', '\n', '\f', '\r':
					return i, false, false
				}
				i += 6
				continue
			}
			return i, false, false
		case c < 0x20:
			return i, false, false
		case c < utf8.RuneSelf:
			i++
		default:
			plain = false
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, false, false
			}
			i += size
		}
	}
	return i, false, false
}

// maxVerbatimInt is the length below which Canonicalize copies an
// integer as it is (it is exact as a double).
const maxVerbatimInt = 16

func canonicalNumber(b []byte, i int) (int, bool) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		digits()
	default:
		return i, false
	}
	float := false
	if i < len(b) && b[i] == '.' {
		float = true
		i++
		if !digits() {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		float = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return i, false
		}
	}
	num := b[start:i]
	if !float && len(num) < maxVerbatimInt {
		return i, string(num) != "-0"
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || f == 0 {
		return i, false
	}
	var buf [32]byte
	out, err := AppendCanonicalNumber(buf[:0], f)
	return i, err == nil && bytes.Equal(out, num)
}
