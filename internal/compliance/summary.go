package compliance

import (
	"math"
	"time"

	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/policy"
)

// maxTools bounds the tools counted one by one in Summary.CallsByTool;
// calls of further tools are counted under OtherTools.
const maxTools = 500

// OtherTools is the CallsByTool key of the tools beyond the first 500.
const OtherTools = "(other tools)"

// Summary is the figures of a session's records.
type Summary struct {
	// TotalEvents counts every record of the session.
	TotalEvents int64 `json:"total_events"`
	// EventsByKind counts records by timeline kind.
	EventsByKind map[string]int64 `json:"events_by_kind"`
	// GovernedCalls counts tool calls the gateway decided (governed MCP
	// calls and confirmations of governed built-in tools).
	GovernedCalls int64 `json:"governed_calls"`
	// ObservedCalls counts built-in tool calls seen on the event stream.
	ObservedCalls int64                `json:"observed_calls"`
	CallsByTool   map[string]ToolCalls `json:"calls_by_tool"`
	// Decisions counts the governed calls by policy decision.
	Decisions map[string]int64 `json:"decisions"`
	// Denials counts governed calls denied; DenialRate is Denials over
	// GovernedCalls (0 without governed calls), to four decimals.
	Denials    int64   `json:"denials"`
	DenialRate float64 `json:"denial_rate"`
	// Anomalies counts observed calls flagged (severity medium or above).
	Anomalies          int64   `json:"anomalies"`
	MaxAnomalySeverity string  `json:"max_anomaly_severity"`
	MaxSessionScore    float64 `json:"max_session_score"`
	// Interrupts counts interrupts of the session, AutoInterrupts those
	// the gateway made on its own.
	Interrupts     int64         `json:"interrupts"`
	AutoInterrupts int64         `json:"auto_interrupts"`
	CredentialUses int64         `json:"credential_uses"`
	Approvals      ApprovalUsage `json:"approvals"`
	FirstEventAt   *time.Time    `json:"first_event_at"`
	LastEventAt    *time.Time    `json:"last_event_at"`
}

// ToolCalls counts one tool's calls.
type ToolCalls struct {
	Governed int64 `json:"governed"`
	Observed int64 `json:"observed"`
	Denied   int64 `json:"denied"`
}

// ApprovalUsage is the session's use of the approval queue. Pending is
// Requested less the actions decided (approved, rejected or expired) and
// those cancelled while pending.
type ApprovalUsage struct {
	Requested int64 `json:"requested"`
	Approved  int64 `json:"approved"`
	Rejected  int64 `json:"rejected"`
	Expired   int64 `json:"expired"`
	Executed  int64 `json:"executed"`
	Failed    int64 `json:"failed"`
	// Cancelled counts actions cancelled before they ran (session ended,
	// agent archived or tool withdrawn, key revoked), whether pending or
	// approved at the time.
	Cancelled int64 `json:"cancelled"`
	// cancelledPending are the Cancelled that were still pending.
	cancelledPending int64
	Pending          int64 `json:"pending"`
}

// summarizer accumulates a Summary one record at a time.
type summarizer struct {
	s                  Summary
	maxSeverity        anomaly.Severity
	interruptActs      int64 // session.interrupted records
	interruptOutcomes  int64 // interrupt confirmations
	autoActs, autoOuts int64
	// requested holds the actions queued for a human, counted once
	// whether the trail shows govern's require_approval record (which is
	// the queued action's own audit record: the approval queue writes no
	// separate one for the pending state) or an approval "pending" record.
	requested map[string]bool
}

func newSummarizer() *summarizer {
	return &summarizer{s: Summary{
		EventsByKind: map[string]int64{}, CallsByTool: map[string]ToolCalls{}, Decisions: map[string]int64{},
		MaxAnomalySeverity: anomaly.SeverityNone.String(),
	}}
}

func (z *summarizer) add(f *facts) {
	s, r := &z.s, f.rec
	s.TotalEvents++
	s.EventsByKind[f.kind]++
	if s.FirstEventAt == nil {
		t := r.Time
		s.FirstEventAt = &t
	}
	t := r.Time
	s.LastEventAt = &t
	switch f.kind {
	case KindGovernedCall, KindConfirmation:
		s.GovernedCalls++
		tc := z.tool(r.Tool)
		tc.Governed++
		if policyDecision(r.Decision) {
			s.Decisions[r.Decision]++
		}
		if r.Decision == policy.Deny {
			s.Denials++
			tc.Denied++
		}
		// A governed call queued for a human, or a built-in tool call
		// escalated to one (observe's confirmation record).
		if r.Decision == policy.RequireApproval && (f.detail.Outcome == outcomePendingApproval || f.kind == KindConfirmation) {
			z.request(r.ActionID)
		}
		z.setTool(r.Tool, tc)
	case KindObservedCall:
		s.ObservedCalls++
		tc := z.tool(r.Tool)
		tc.Observed++
		z.setTool(r.Tool, tc)
		if a := f.anomaly; a != nil {
			if a.Flagged {
				s.Anomalies++
			}
			if sev, err := anomaly.ParseSeverity(a.Severity); err == nil && sev > z.maxSeverity {
				z.maxSeverity = sev
				s.MaxAnomalySeverity = sev.String()
			}
			s.MaxSessionScore = math.Max(s.MaxSessionScore, a.SessionScore)
		}
	case KindApproval:
		u := &s.Approvals
		switch r.Decision {
		case approvalRequested:
			z.request(r.ActionID)
		case approvalApproved:
			u.Approved++
		case approvalRejected:
			u.Rejected++
		case approvalExpired:
			u.Expired++
		case approvalExecuted:
			u.Executed++
		case approvalFailed:
			u.Failed++
		case approvalCancelled:
			u.Cancelled++
			if f.detail.From == approvalRequested {
				u.cancelledPending++
			}
		}
	case KindInterrupt:
		// An interrupt is recorded when it is made (session.interrupted)
		// and again when the stream confirms it or not; count acts, or
		// outcomes where acts are missing.
		if r.Decision == decisionInterrupted {
			z.interruptActs++
			if f.automatic() {
				z.autoActs++
			}
		} else {
			z.interruptOutcomes++
			if f.automatic() {
				z.autoOuts++
			}
		}
	case KindCredential:
		if f.detail.Op == "" || f.detail.Op == credentialOpUse {
			s.CredentialUses++
		}
	}
}

// outcomePendingApproval is the outcome of a governed call that was
// queued for a human.
const outcomePendingApproval = outcomePending

// request counts an action queued for a human once.
func (z *summarizer) request(actionID string) {
	if actionID != "" {
		if z.requested[actionID] {
			return
		}
		if z.requested == nil {
			z.requested = map[string]bool{}
		}
		z.requested[actionID] = true
	}
	z.s.Approvals.Requested++
}

func (z *summarizer) tool(name string) ToolCalls {
	if _, ok := z.s.CallsByTool[name]; !ok && len(z.s.CallsByTool) >= maxTools {
		name = OtherTools
	}
	return z.s.CallsByTool[name]
}

func (z *summarizer) setTool(name string, tc ToolCalls) {
	if _, ok := z.s.CallsByTool[name]; !ok && len(z.s.CallsByTool) >= maxTools {
		name = OtherTools
	}
	z.s.CallsByTool[name] = tc
}

// summary returns the figures with the derived ones filled in.
func (z *summarizer) summary() Summary {
	s := z.s
	if s.GovernedCalls > 0 {
		s.DenialRate = math.Round(float64(s.Denials)/float64(s.GovernedCalls)*1e4) / 1e4
	}
	s.Interrupts, s.AutoInterrupts = max(z.interruptActs, z.interruptOutcomes), max(z.autoActs, z.autoOuts)
	u := &s.Approvals
	u.Pending = max(0, u.Requested-u.Approved-u.Rejected-u.Expired-u.cancelledPending)
	return s
}
