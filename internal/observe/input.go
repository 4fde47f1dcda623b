package observe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
)

// judged is what the consumer keeps of a tool use's input.
type judged struct {
	digest   string
	redacted json.RawMessage
	verdict  anomaly.Verdict
}

// judge decodes a tool input once for its digest (policy.Digest's form,
// so that a call to Vargate's own MCP server matches its governed
// record), its anomaly verdict (when analyze is set) and its redacted
// copy.
func judge(det *anomaly.Detector, red redactor, tool string, input json.RawMessage, analyze bool) judged {
	v, err := pii.Decode(input)
	if err != nil {
		j := judged{digest: policy.Digest(input), redacted: json.RawMessage(`"[REDACTED:unparseable]"`)}
		if analyze {
			j.verdict = det.Analyze(tool, input)
		}
		return j
	}
	j := judged{digest: digestValue(v)}
	if analyze {
		if m, ok := v.(map[string]any); ok {
			j.verdict = det.AnalyzeInput(tool, m)
		} else {
			j.verdict = det.Analyze(tool, input)
		}
	}
	// Last: redaction rewrites the decoded value in place.
	if v, changed := red.value(v); changed {
		j.redacted = encodeJSON(v, input)
	} else {
		j.redacted = input
	}
	return j
}

// digestValue is policy.Digest of a document decoded by pii.Decode:
// "sha256:" and the hex SHA-256 of its compact encoding with sorted
// members and encoding/json's escaping (TestDigestMatchesPolicy).
func digestValue(v any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a decoded document always encodes
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// encodeJSON encodes a redacted value, or replaces the document whole if
// that fails.
func encodeJSON(v any, _ json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage(`"[REDACTED:unparseable]"`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
