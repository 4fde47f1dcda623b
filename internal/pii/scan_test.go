package pii_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vargate/vargate/internal/pii"
)

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []pii.Finding
	}{
		{
			name: "email tool",
			doc:  `{"to":["ada@example.com","bob@example.com"],"subject":"hi","body":"my card is 4111 1111 1111 1111"}`,
			want: []pii.Finding{
				{Kind: pii.Card, Detector: "card", Path: "$.body", Field: "body"},
				{Kind: pii.Email, Detector: "email", Path: "$.to[0]", Field: "to"},
				{Kind: pii.Email, Detector: "email", Path: "$.to[1]", Field: "to"},
			},
		},
		{
			name: "nested and odd keys",
			doc:  `{"headers":{"X-Api-Key":"AKIAIOSFODNN7EXAMPLE"},"2fa":"+14155552671"}`,
			want: []pii.Finding{
				{Kind: pii.Phone, Detector: "phone", Path: `$["2fa"]`, Field: "2fa"},
				{Kind: pii.Secret, Detector: "aws_access_key", Path: `$.headers["X-Api-Key"]`, Field: "headers"},
			},
		},
		{
			name: "card as a json number",
			doc:  `{"pan":4111111111111111,"amount":4111.5,"n":1234567812345670}`,
			want: []pii.Finding{{Kind: pii.Card, Detector: "card", Path: "$.pan", Field: "pan"}},
		},
		{
			name: "one finding per path and detector",
			doc:  `{"q":"a@example.com b@example.com"}`,
			want: []pii.Finding{{Kind: pii.Email, Detector: "email", Path: "$.q", Field: "q"}},
		},
		{
			name: "array document has no field",
			doc:  `["10.0.0.1"]`,
			want: []pii.Finding{{Kind: pii.IP, Detector: "ipv4", Path: "$[0]", Field: ""}},
		},
		{
			name: "keys are not scanned",
			doc:  `{"ada@example.com":true}`,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pii.Scan([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Scan(%s) mismatch (-want +got):\n%s", tt.doc, diff)
			}
		})
	}
}

func TestScanRejectsInvalidJSON(t *testing.T) {
	for _, doc := range []string{``, `{`, `{"a":1} {"b":2}`, `nope`} {
		if _, err := pii.Scan([]byte(doc)); err == nil {
			t.Errorf("Scan(%q) = nil error, want one", doc)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{
			name: "strings and numbers",
			doc:  `{"to": "ada@example.com", "note": "card 4111111111111111 ok", "pan": 4111111111111111, "n": 3}`,
			want: `{"n":3,"note":"card [REDACTED:card] ok","pan":"[REDACTED:card]","to":"[REDACTED:email]"}`,
		},
		{
			name: "nested",
			doc:  `{"a":[{"b":"key AKIAIOSFODNN7EXAMPLE"}],"html":"<b>&</b>"}`,
			want: `{"a":[{"b":"key [REDACTED:secret]"}],"html":"<b>&</b>"}`,
		},
		{
			name: "nothing to redact keeps the bytes",
			doc:  `{ "z": 1, "a": "plain text" }`,
			want: `{ "z": 1, "a": "plain text" }`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pii.Redact([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Redact: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Redact(%s)\n got %s\nwant %s", tt.doc, got, tt.want)
			}
		})
	}
}

func TestRedactString(t *testing.T) {
	in := "mail ada@example.com, ssn 219-09-9999, ip 10.0.0.1"
	want := "mail [REDACTED:email], ssn [REDACTED:ssn], ip [REDACTED:ip]"
	if got := pii.RedactString(in); got != want {
		t.Errorf("RedactString(%q) = %q, want %q", in, got, want)
	}
	// Redacted output contains nothing left to find.
	if ms := pii.Find(pii.RedactString(in)); len(ms) != 0 {
		t.Errorf("Find(redacted) = %v, want none", ms)
	}
}

func BenchmarkScan(b *testing.B) {
	doc := []byte(`{"to":["ada@example.com"],"cc":[],"subject":"Quarterly report",` +
		`"body":"` + strings.Repeat("Hello team, please find the summary of our findings attached. ", 8) + `"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := pii.Scan(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// A long text full of anchors (digits, dots, dashes, "@", colons) without
// anything sensitive: every detector runs, none matches.
func BenchmarkFindLongText(b *testing.B) {
	s := strings.Repeat("Meeting 2026-04-11 at 10:30, room 4.12, ticket OPS-1234 v2.3.1 (see @ops). ", 40)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if ms := pii.Find(s); len(ms) != 0 {
			b.Fatalf("found %v", ms)
		}
	}
}
