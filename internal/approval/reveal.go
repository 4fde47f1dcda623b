package approval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Messages of a HiddenText warning.
const (
	// MsgDirectionMarks flags right-to-left overrides, isolates and marks:
	// text that renders in another order than it is stored
	// ("\u202emoc.ynapmoc-ruo@…" shows as a company address).
	MsgDirectionMarks = "this value contains hidden direction marks"
	// MsgInvisible flags zero-width and other invisible format characters.
	MsgInvisible = "this value contains invisible characters"
)

// HiddenText is one argument value (or key) that does not render as what
// it is: Path is where it is in the arguments ("to[0]", "headers.X-Y"),
// Message says what is hidden, Escaped is the value with every hidden
// character written as \uXXXX.
type HiddenText struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Escaped string `json:"escaped"`
}

// bidiControl reports whether r reorders text: the embeddings and
// overrides (U+202A–U+202E), isolates (U+2066–U+2069) and marks
// (U+200E, U+200F, U+061C).
func bidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// hidden reports whether r does not show as itself: format characters
// (zero-width spaces and joiners, the bidi controls, word joiner, BOM,
// soft hyphen, tags …), the other invisible fillers, and control
// characters other than tab and newline.
func hidden(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.Is(unicode.Cf, r), unicode.IsControl(r), bidiControl(r):
		return true
	case r == 0x034F, r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, // grapheme joiner, Hangul fillers
		r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF, // variation selectors
		r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// EscapeHidden returns s with every hidden character written as \uXXXX
// (or \U00XXXXXX), so that it shows what it is, and whether it had any.
func EscapeHidden(s string) (string, bool) {
	if strings.IndexFunc(s, hidden) < 0 {
		return s, false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !hidden(r):
			b.WriteRune(r)
		case r > 0xFFFF:
			fmt.Fprintf(&b, `\U%08X`, r)
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	return b.String(), true
}

// FindHidden returns every string (value or key) of a JSON document that
// holds hidden characters, in path order. Invalid JSON yields nothing.
func FindHidden(doc json.RawMessage) []HiddenText {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []HiddenText
	note := func(path, s string) {
		esc, ok := EscapeHidden(s)
		if !ok {
			return
		}
		msg := MsgInvisible
		if strings.IndexFunc(s, bidiControl) >= 0 {
			msg = MsgDirectionMarks
		}
		out = append(out, HiddenText{Path: path, Message: msg, Escaped: esc})
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			note(path, x)
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p, _ := EscapeHidden(k)
				if path != "" {
					p = path + "." + p
				}
				note(p+" (key)", k)
				walk(p, x[k])
			}
		}
	}
	walk("", v)
	return out
}
