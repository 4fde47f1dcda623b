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

// judge reads a tool input for its digest (audit.Digest, so that a call
// to Vargate's own MCP server matches its governed record), its anomaly
// verdict (when analyze is set) and its redacted copy, decoding it once.
// Inputs of any size are judged: the detector sees a bounded view
// (judgedView) and the copy kept is bounded (storedInput); the digest is
// always the whole input's.
func judge(det *anomaly.Detector, red redactor, tool string, input json.RawMessage, analyze bool) judged {
	v, err := pii.Decode(input)
	if err != nil {
		j := judged{digest: audit.Digest(input), redacted: json.RawMessage(`"[REDACTED:unparseable]"`)}
		if analyze {
			j.verdict = analyzeRaw(det, tool, input)
		}
		return j
	}
	// audit.Digest, so that a call to Vargate's own MCP server matches
	// its governed record.
	j := judged{digest: audit.Digest(input)}
	if analyze {
		j.verdict = analyzeValue(det, tool, v)
	}
	// Last: redaction rewrites the decoded value in place.
	v, changed := red.value(v)
	doc := input
	if changed {
		doc = encodeJSON(v, input)
	}
	j.redacted = storedInput(doc, v, j.digest)
	return j
}

// analyzeValue is the anomaly verdict of a decoded input, judged on its
// bounded view (judgedView).
func analyzeValue(det *anomaly.Detector, tool string, v any) anomaly.Verdict {
	jv, elided := judgedView(v)
	var verdict anomaly.Verdict
	if m, ok := jv.(map[string]any); ok {
		verdict = det.AnalyzeInput(tool, m)
	} else {
		verdict = det.Analyze(tool, encodeJSON(jv, nil))
	}
	return withElision(verdict, elided)
}

// analyzeRaw is analyzeValue of a raw input; one that does not decode is
// judged on the window of its text.
func analyzeRaw(det *anomaly.Detector, tool string, input json.RawMessage) anomaly.Verdict {
	v, err := pii.Decode(input)
	if err != nil {
		if len(input) > MaxJudgedStringBytes {
			input = json.RawMessage(window(string(input)))
		}
		return det.Analyze(tool, input)
	}
	return analyzeValue(det, tool, v)
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
