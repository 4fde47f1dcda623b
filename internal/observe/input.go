package observe

import (
	"bytes"
	"encoding/json"

	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
)

// judged is what the consumer keeps of a tool use's input.
type judged struct {
	digest   string
	redacted json.RawMessage
	verdict  anomaly.Verdict
}

// judge reads a tool input for its digest, its anomaly verdict (when
// analyze is set) and its redacted copy, decoding it once.
func judge(det *anomaly.Detector, red redactor, tool string, input json.RawMessage, analyze bool) judged {
	v, err := pii.Decode(input)
	if err != nil {
		j := judged{digest: audit.Digest(input), redacted: json.RawMessage(`"[REDACTED:unparseable]"`)}
		if analyze {
			j.verdict = det.Analyze(tool, input)
		}
		return j
	}
	// audit.Digest, so that a call to Vargate's own MCP server matches
	// its governed record.
	j := judged{digest: audit.Digest(input)}
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
