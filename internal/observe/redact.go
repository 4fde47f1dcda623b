package observe

import (
	"encoding/json"
	"strings"

	"github.com/vargate/vargate/internal/pii"
)

// redactor removes sensitive values from what the audit trail keeps of a
// tool call, per the profile: with PII detection on, every kind pii
// detects; with it off, secrets only (a key in the trail is never wanted).
type redactor struct{ all bool }

// text redacts a string.
func (r redactor) text(s string) string {
	if r.all {
		return pii.RedactString(s)
	}
	ms := pii.Find(s)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		if m.Kind != pii.Secret {
			continue
		}
		b.WriteString(s[last:m.Start])
		b.WriteString("[REDACTED:secret]")
		last = m.End
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func (r redactor) value(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		s := r.text(x)
		return s, s != x
	case json.Number:
		// A number is sensitive only as a whole card number.
		if r.all {
			for _, m := range pii.Find(string(x)) {
				if m.Kind == pii.Card && m.Start == 0 && m.End == len(x) {
					return "[REDACTED:card]", true
				}
			}
		}
	case []any:
		changed := false
		for i, e := range x {
			if n, c := r.value(e); c {
				x[i], changed = n, true
			}
		}
		return x, changed
	case map[string]any:
		changed := false
		for k, e := range x {
			if n, c := r.value(e); c {
				x[k], changed = n, true
			}
		}
		return x, changed
	}
	return v, false
}
