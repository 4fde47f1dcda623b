package pii

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Finding says that a value of some kind was found at a place in a JSON
// document. It never holds the value itself.
type Finding struct {
	Kind     Kind   `json:"kind"`
	Detector string `json:"detector"`
	// Path is a JSONPath to the string or number, such as `$.to[0]` or
	// `$.headers["X-Api-Key"]`.
	Path string `json:"path"`
	// Field is the top-level member of the document the path starts with
	// ("to" for `$.to[0]`), or "" when the document is not an object.
	Field string `json:"field"`
}

// Decode parses a JSON document the way Scan and Redact read it: numbers
// stay json.Number, so their digits survive. It rejects trailing data.
func Decode(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode json: trailing data after the document")
	}
	return v, nil
}

// Scan returns the sensitive values in a JSON document: one Finding per
// string or number, kind and detector, in the order of a walk that visits
// object members by sorted key.
func Scan(doc []byte) ([]Finding, error) {
	v, err := Decode(doc)
	if err != nil {
		return nil, err
	}
	return ScanValue(v), nil
}

// ScanValue is Scan for a document already decoded (by Decode, or by
// encoding/json into any).
func ScanValue(v any) []Finding {
	var fs []Finding
	walk(v, make([]byte, 0, 64), "", func(path []byte, field string, s string, number bool) {
		for _, m := range findIn(s, number) {
			f := Finding{Kind: m.Kind, Detector: m.Detector, Path: string(path), Field: field}
			if !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
	})
	return fs
}

// findIn returns the matches in a string or in the digits of a number.
// Only whole integers are checked as card numbers: a JSON number is never
// an e-mail address, and fractions are not card numbers.
func findIn(s string, number bool) []Match {
	if !number {
		return Find(s)
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 || !isCard(s) {
		return nil
	}
	return []Match{{Kind: Card, Detector: "card", Start: 0, End: len(s)}}
}

// walk calls visit for every string and number in v with its JSONPath and
// top-level field.
func walk(v any, path []byte, field string, visit func(path []byte, field string, s string, number bool)) {
	if len(path) == 0 {
		path = append(path, '$')
	}
	switch v := v.(type) {
	case string:
		visit(path, field, v, false)
	case json.Number:
		visit(path, field, string(v), true)
	case float64:
		visit(path, field, strconv.FormatFloat(v, 'f', -1, 64), true)
	case []any:
		for i, e := range v {
			p := append(path, '[')
			p = strconv.AppendInt(p, int64(i), 10)
			p = append(p, ']')
			walk(e, p, field, visit)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f := field
			if len(path) == 1 {
				f = k
			}
			walk(v[k], appendKey(path, k), f, visit)
		}
	}
}

// appendKey appends an object member to a JSONPath: `.name` for
// identifiers, `["any key"]` otherwise.
func appendKey(path []byte, k string) []byte {
	ident := k != ""
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(isWord(c) && (i > 0 || !isDigit(c))) {
			ident = false
			break
		}
	}
	if ident {
		return append(append(path, '.'), k...)
	}
	q, _ := json.Marshal(k) // a string always marshals
	return append(append(append(path, '['), q...), ']')
}

// RedactString replaces each sensitive value in s with "[REDACTED:kind]".
func RedactString(s string) string {
	ms := Find(s)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m.Start])
		b.WriteString("[REDACTED:")
		b.WriteString(string(m.Kind))
		b.WriteByte(']')
		last = m.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// Redact returns the JSON document with every sensitive value in its
// strings replaced by "[REDACTED:kind]"; a number that is a card number
// becomes the string "[REDACTED:card]". Object keys are left alone. A
// document with nothing to redact is returned unchanged; otherwise the
// result is compact, with object members in sorted order.
func Redact(doc []byte) ([]byte, error) {
	v, err := Decode(doc)
	if err != nil {
		return nil, err
	}
	v, changed := redactValue(v)
	if !changed {
		return doc, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode redacted json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func redactValue(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		r := RedactString(x)
		return r, r != x
	case json.Number:
		if ms := findIn(string(x), true); len(ms) > 0 {
			return "[REDACTED:" + string(ms[0].Kind) + "]", true
		}
	case []any:
		changed := false
		for i, e := range x {
			if r, c := redactValue(e); c {
				x[i], changed = r, true
			}
		}
		return x, changed
	case map[string]any:
		changed := false
		for k, e := range x {
			if r, c := redactValue(e); c {
				x[k], changed = r, true
			}
		}
		return x, changed
	}
	return v, false
}

// RedactFindings returns v (a document decoded by Decode, or any tree of
// maps, slices, strings and json.Numbers) with the values that findings
// name redacted as Redact would: it walks to each finding's path rather
// than scanning the document again. Only the containers on a changed path
// are copied; v itself is not modified. With no findings it returns v.
func RedactFindings(v any, findings []Finding) any {
	if len(findings) == 0 {
		return v
	}
	paths := make(map[string]bool, len(findings))
	for _, f := range findings {
		paths[f.Path] = true
	}
	out, _ := redactAt(v, make([]byte, 0, 64), paths)
	return out
}

// redactAt is RedactFindings' walk: it builds each value's path the way
// walk does and redacts the values whose path was found.
func redactAt(v any, path []byte, paths map[string]bool) (any, bool) {
	if len(path) == 0 {
		path = append(path, '$')
	}
	switch x := v.(type) {
	case string:
		if paths[string(path)] {
			if r := RedactString(x); r != x {
				return r, true
			}
		}
	case json.Number:
		if paths[string(path)] {
			if ms := findIn(string(x), true); len(ms) > 0 {
				return "[REDACTED:" + string(ms[0].Kind) + "]", true
			}
		}
	case float64:
		if paths[string(path)] {
			if ms := findIn(strconv.FormatFloat(x, 'f', -1, 64), true); len(ms) > 0 {
				return "[REDACTED:" + string(ms[0].Kind) + "]", true
			}
		}
	case []any:
		var cp []any
		for i, e := range x {
			p := append(path, '[')
			p = strconv.AppendInt(p, int64(i), 10)
			p = append(p, ']')
			if r, c := redactAt(e, p, paths); c {
				if cp == nil {
					cp = slices.Clone(x)
				}
				cp[i] = r
			}
		}
		if cp != nil {
			return cp, true
		}
	case map[string]any:
		var cp map[string]any
		for k, e := range x {
			if r, c := redactAt(e, appendKey(path, k), paths); c {
				if cp == nil {
					cp = make(map[string]any, len(x))
					for k2, e2 := range x {
						cp[k2] = e2
					}
				}
				cp[k] = r
			}
		}
		if cp != nil {
			return cp, true
		}
	}
	return v, false
}
