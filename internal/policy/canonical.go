package policy

import (
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vargate/vargate/internal/audit"
)

var _ audit.CanonicalAppender = (*Input)(nil)

// AppendCanonicalJSON appends the input as RFC 8785 JSON: the document
// json.Marshal writes for it, canonicalised, without the detour. A
// governed call's audit record keeps its input this way
// (audit.GovernedDetail).
func (in *Input) AppendCanonicalJSON(b []byte) ([]byte, error) {
	if in == nil {
		return append(b, "null"...), nil
	}
	var err error
	// Members in RFC 8785 order (by UTF-16 code units; all ASCII here).
	b = append(b, `{"agent":`...)
	b = in.Agent.appendCanonical(b)
	b = append(b, `,"call":`...)
	if b, err = in.Call.appendCanonical(b); err != nil {
		return nil, err
	}
	b = append(b, `,"pii":[`...)
	for i, f := range in.PII {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"detector":`...)
		b = audit.AppendCanonicalString(b, f.Detector)
		b = append(b, `,"field":`...)
		b = audit.AppendCanonicalString(b, f.Field)
		b = append(b, `,"kind":`...)
		b = audit.AppendCanonicalString(b, string(f.Kind))
		b = append(b, `,"path":`...)
		b = audit.AppendCanonicalString(b, f.Path)
		b = append(b, '}')
	}
	b = append(b, `],"session":{"age_seconds":`...)
	s := &in.Session
	if b, err = audit.AppendCanonicalNumber(b, s.AgeSeconds); err != nil {
		return nil, err
	}
	b = append(b, `,"anomaly_score":`...)
	if b, err = audit.AppendCanonicalNumber(b, s.AnomalyScore); err != nil {
		return nil, err
	}
	b = append(b, `,"calls":`...)
	b = audit.AppendCanonicalInt(b, int64(s.Calls))
	b = append(b, `,"denials":`...)
	b = audit.AppendCanonicalInt(b, int64(s.Denials))
	b = append(b, `,"id":`...)
	b = audit.AppendCanonicalString(b, s.ID)
	b = append(b, `},"tenant":{"id":`...)
	b = audit.AppendCanonicalString(b, in.Tenant.ID)
	b = append(b, `},"time":`...)
	t, err := in.Time.MarshalJSON() // RFC 3339, nothing to escape
	if err != nil {
		return nil, fmt.Errorf("policy input time: %w", err)
	}
	b = append(b, t...)
	return append(b, '}'), nil
}

func (a *Agent) appendCanonical(b []byte) []byte {
	if p := a.prepared; p != nil {
		return append(b, p.json...)
	}
	b = append(b, `{"allowed_tools":`...)
	b = audit.AppendCanonicalStrings(b, a.AllowedTools)
	b = append(b, `,"delegation":{"depth":`...)
	b = audit.AppendCanonicalInt(b, int64(a.Delegation.Depth))
	b = append(b, `,"max_depth":`...)
	b = audit.AppendCanonicalInt(b, int64(a.Delegation.MaxDepth))
	b = append(b, `},"governance_profile":{"pii_detection":`...)
	b = appendBool(b, a.GovernanceProfile.PIIDetection)
	b = append(b, `,"risk_level":`...)
	b = audit.AppendCanonicalString(b, a.GovernanceProfile.RiskLevel)
	b = append(b, `},"id":`...)
	b = audit.AppendCanonicalString(b, a.ID)
	b = append(b, `,"require_human_approval":`...)
	b = audit.AppendCanonicalStrings(b, a.RequireHumanApproval)
	return append(b, '}')
}

func (c *Call) appendCanonical(b []byte) ([]byte, error) {
	b = append(b, '{')
	if a := c.Annotations; a != nil {
		b = append(b, `"annotations":{"destructive_hint":`...)
		b = appendBool(b, a.Destructive)
		b = append(b, `,"idempotent_hint":`...)
		b = appendBool(b, a.Idempotent)
		b = append(b, `,"open_world_hint":`...)
		b = appendBool(b, a.OpenWorld)
		b = append(b, `,"read_only_hint":`...)
		b = appendBool(b, a.ReadOnly)
		b = append(b, "},"...)
	}
	b = append(b, `"arguments":`...)
	if len(c.Arguments) == 0 {
		b = append(b, "null"...) // as json.Marshal writes a nil RawMessage
	} else {
		v := jsontext.Value(append([]byte(nil), c.Arguments...))
		if err := v.Canonicalize(); err != nil {
			return nil, fmt.Errorf("policy input arguments: %w", err)
		}
		b = append(b, v...)
	}
	b = append(b, `,"arguments_digest":`...)
	b = audit.AppendCanonicalString(b, c.ArgumentsDigest)
	b = append(b, `,"tool":`...)
	b = audit.AppendCanonicalString(b, c.Tool)
	if c.Upstream != "" {
		b = append(b, `,"upstream":`...)
		b = audit.AppendCanonicalString(b, c.Upstream)
	}
	return append(b, '}'), nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}
