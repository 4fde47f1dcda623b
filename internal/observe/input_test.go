package observe

import (
	"encoding/json"
	"testing"

	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/govern"
)

// The consumer's digest of a tool input must equal the digest the
// governed record of the same call carries (govern.DecodeArgs, which is
// audit.Digest).
func TestDigestMatchesGoverned(t *testing.T) {
	det := anomaly.New(anomaly.Config{})
	for _, doc := range []string{
		`{}`,
		`{"command":"ls -la && echo <b>&amp;</b>"}`,
		`{"b":1,"a":[1.50,2e3,{"z":null,"y":true}],"c":"é\u2028"}`,
		`{"to":"team@example.com","subject":"Summary","body":"Hi\nteam"}`,
		`{"n":12345678901234567890123}`,
	} {
		args, err := govern.DecodeArgs([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := judge(det, redactor{all: true}, "bash", json.RawMessage(doc), false).digest; got != args.Digest {
			t.Errorf("%s: digest %s, governed digest %s", doc, got, args.Digest)
		}
	}
}

func TestJudgeRedacts(t *testing.T) {
	det := anomaly.New(anomaly.Config{})
	tests := []struct {
		name, input string
		all         bool
		want        string
	}{
		{"pii on", `{"command":"mail bob@example.com"}`, true, `{"command":"mail [REDACTED:email]"}`},
		{"pii off keeps personal data", `{"command":"mail bob@example.com"}`, false, `{"command":"mail bob@example.com"}`},
		{"pii off still hides secrets", `{"command":"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"}`, false, `{"command":"export AWS_ACCESS_KEY_ID=[REDACTED:secret]"}`},
		{"card number", `{"amount":10,"card":4111111111111111}`, true, `{"amount":10,"card":"[REDACTED:card]"}`},
		{"unparseable", `{"command":`, true, `"[REDACTED:unparseable]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := judge(det, redactor{all: tt.all}, "bash", json.RawMessage(tt.input), true)
			if string(j.redacted) != tt.want {
				t.Errorf("redacted = %s, want %s", j.redacted, tt.want)
			}
			if j.digest != audit.Digest(json.RawMessage(tt.input)) {
				t.Errorf("digest %s differs from audit.Digest", j.digest)
			}
		})
	}
}
