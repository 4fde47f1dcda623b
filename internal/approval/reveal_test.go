package approval_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/vargate/vargate/internal/approval"
)

func TestFindHidden(t *testing.T) {
	doc, _ := json.Marshal(map[string]any{
		"to":        "\"\u202emoc.ynapmoc-ruo@sso\u202c\" <drop@attacker.example>",
		"cc":        []string{"ok@example.com", "a\u200bb@example.com"},
		"subject":   "plain",
		"k\u2066ey": "v",
	})
	got := approval.FindHidden(doc)
	want := []approval.HiddenText{
		{Path: "cc[1]", Message: approval.MsgInvisible, Escaped: `a\u200Bb@example.com`},
		{Path: `k\u2066ey (key)`, Message: approval.MsgDirectionMarks, Escaped: `k\u2066ey`},
		{Path: "to", Message: approval.MsgDirectionMarks, Escaped: `"\u202Emoc.ynapmoc-ruo@sso\u202C" <drop@attacker.example>`},
	}
	if len(got) != len(want) {
		t.Fatalf("FindHidden = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzEscapeHidden: whatever the text, the escaped form holds no format
// or control character (but tab and newline) and no bidi control, and
// text without any is unchanged.
func FuzzEscapeHidden(f *testing.F) {
	for _, s := range []string{"plain", "\u202eabc\u202c", "a\u200b\u200c\u200d\ufeffb", "\u2066x\u2069", "tab\tnl\n", "\x00\x1b[31m", "\U000E0041tag"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, changed := approval.EscapeHidden(s)
		for _, r := range out {
			if r != '\n' && r != '\t' && (unicode.Is(unicode.Cf, r) || unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("EscapeHidden(%q) = %q still holds %U", s, out, r)
			}
		}
		if !changed && out != s {
			t.Fatalf("unchanged text %q came back as %q", s, out)
		}
		if changed && !strings.Contains(out, `\u`) && !strings.Contains(out, `\U`) {
			t.Fatalf("changed text %q has no escape: %q", s, out)
		}
	})
}
