package compliance

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
)

// Kinds of timeline events.
const (
	// KindGovernedCall is a tool call through the gateway's MCP server,
	// decided by policy before it ran.
	KindGovernedCall = "governed_call"
	// KindCallOutcome is how an allowed governed call ended (executed,
	// failed, cancelled): the mcp_outcome record that follows its
	// governed_call.
	KindCallOutcome = "governed_call_outcome"
	// KindConfirmation is a governed built-in tool call that the gateway
	// confirmed or refused by policy (always_ask tools).
	KindConfirmation = audit.DetailKindToolConfirmation
	// KindObservedCall is a built-in tool call seen on the event stream
	// after the fact, with its anomaly flags.
	KindObservedCall = "observed_call"
	// KindApproval is a step of a queued action: requested, approved,
	// rejected, expired, executed, failed.
	KindApproval = "approval"
	// KindInterrupt is a session interrupt and its confirmation.
	KindInterrupt = "interrupt"
	// KindSession is a session lifecycle event (created, completed, …).
	KindSession = "session"
	// KindCredential is a credential released by the vault for a call.
	KindCredential = "credential_use"
	// KindOther is any other record of the session.
	KindOther = "other"
)

// Event is one entry of an export's timeline: an audit record of the
// session, in words. The record itself, which the hash covers, is in
// chain_verification.records; Seq and RecordHash name it.
type Event struct {
	Seq    int64        `json:"seq"`
	Time   time.Time    `json:"time"`
	Kind   string       `json:"kind"`
	Source audit.Source `json:"source"`
	// Event names a lifecycle event ("session.created").
	Event         string   `json:"event,omitempty"`
	ActionID      string   `json:"action_id,omitempty"`
	Tool          string   `json:"tool,omitempty"`
	Decision      string   `json:"decision,omitempty"`
	Reasons       []string `json:"reasons,omitempty"`
	PolicyVersion string   `json:"policy_version,omitempty"`
	DecisionID    string   `json:"decision_id,omitempty"`
	// Outcome is how a governed call ended (executed, denied,
	// pending_approval, invalid_arguments, failed).
	Outcome string `json:"outcome,omitempty"`
	// Arguments are the call's arguments with personal data and secrets
	// redacted.
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Anomaly is the anomaly verdict of an observed call (flags,
	// severity, score, session score); Flagged is its flagged value.
	Anomaly json.RawMessage `json:"anomaly,omitempty"`
	Flagged bool            `json:"flagged,omitempty"`
	// DecidedBy and DecidedAt say who approved or rejected an action (an
	// API key ID, or "system" for an expiry) and when.
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// Note is the approver's note or an interrupt's reason.
	Note string `json:"note,omitempty"`
	// Automatic marks an interrupt the gateway made on its own.
	Automatic bool `json:"automatic,omitempty"`
	// Actor is who caused the record.
	Actor      string     `json:"actor,omitempty"`
	RecordHash audit.Hash `json:"record_hash"`
}

// ActorSystem is the actor of records the gateway writes on its own.
const ActorSystem = "system"

// Decisions of session records that are interrupts.
const (
	decisionInterrupted          = audit.EventSessionInterrupted
	decisionInterruptConfirmed   = audit.EventInterruptConfirmed
	decisionInterruptUnconfirmed = audit.EventInterruptUnconfirmed
	decisionSessionCreated       = audit.EventSessionCreated
	decisionSessionExpired       = audit.EventSessionExpired
	detailKindToolConfirmation   = audit.DetailKindToolConfirmation
	outcomeInvalidArguments      = string(audit.OutcomeInvalid)
	outcomePending               = string(audit.OutcomePending)
	approvalRequested            = "pending"
	approvalApproved             = "approved"
	approvalRejected             = "rejected"
	approvalExpired              = "expired"
	approvalExecuted             = "executed"
	approvalFailed               = "failed"
	approvalCancelled            = "cancelled"
	credentialOpUse              = "use"
	reasonDelegationTooDeep      = "delegation_too_deep"
	reasonAnomalyScore           = "anomaly_score"
	reasonSecretInArguments      = "secret_in_arguments"
)

// recordDetail is the union of the Detail fields the export reads, as
// written by govern, observe, approval, session and the vault.
type recordDetail struct {
	Outcome   string       `json:"outcome"`
	Error     string       `json:"error"`
	Kind      string       `json:"kind"`
	Input     *inputDetail `json:"input"`
	Note      string       `json:"note"`
	Reason    string       `json:"reason"`
	Automatic bool         `json:"automatic"`
	Op        string       `json:"op"`
	// From is the status an approval record's change left.
	From string `json:"from"`
	// SystemPromptHash and Budget are in session.created.
	SystemPromptHash string          `json:"system_prompt_hash"`
	Budget           json.RawMessage `json:"budget"`
}

// inputDetail is the part of a recorded policy input the export reads.
type inputDetail struct {
	PII []json.RawMessage `json:"pii"`
}

// anomalyDetail is the part of an observed record's Anomaly the export
// reads.
type anomalyDetail struct {
	Flags []struct {
		Category string `json:"category"`
		Severity string `json:"severity"`
	} `json:"flags"`
	Severity     string  `json:"severity"`
	Score        float64 `json:"score"`
	Flagged      bool    `json:"flagged"`
	SessionScore float64 `json:"session_score"`
}

// facts is what the export knows about one record once it is classified.
type facts struct {
	rec     *audit.Record
	kind    string
	detail  recordDetail
	anomaly *anomalyDetail
}

// classify reads a record's Detail and Anomaly and sorts it into a kind.
// A Detail or Anomaly that does not parse is ignored: the record is still
// exported as it is.
func classify(rec *audit.Record) facts {
	f := facts{rec: rec, kind: KindOther}
	if len(rec.Detail) > 0 {
		_ = json.Unmarshal(rec.Detail, &f.detail)
	}
	if rec.Outcome != "" {
		// The first-class field; older records have it only in Detail.
		f.detail.Outcome = string(rec.Outcome)
	}
	switch rec.Source {
	case audit.SourceMCPGoverned:
		f.kind = KindGovernedCall
	case audit.SourceMCPOutcome:
		f.kind = KindCallOutcome
		if f.detail.Kind == detailKindToolConfirmation {
			f.kind = KindConfirmation
		}
	case audit.SourceMCPObserved:
		f.kind = KindObservedCall
		if len(rec.Anomaly) > 0 {
			var a anomalyDetail
			if json.Unmarshal(rec.Anomaly, &a) == nil {
				f.anomaly = &a
			}
		}
	case audit.SourceApproval:
		f.kind = KindApproval
	case audit.SourceCredential:
		f.kind = KindCredential
	case audit.SourceSession, audit.SourceControlPlane:
		switch {
		case isInterrupt(rec.Decision):
			f.kind = KindInterrupt
		case strings.HasPrefix(rec.Decision, "session."):
			f.kind = KindSession
		}
	}
	return f
}

func isInterrupt(decision string) bool {
	return decision == decisionInterrupted || decision == decisionInterruptConfirmed || decision == decisionInterruptUnconfirmed
}

// event is the timeline entry of a classified record.
func (f *facts) event() Event {
	r := f.rec
	e := Event{
		Seq: r.Seq, Time: r.Time, Kind: f.kind, Source: r.Source, ActionID: r.ActionID, Tool: r.Tool,
		Decision: r.Decision, Reasons: r.Reasons, PolicyVersion: r.PolicyVersion, DecisionID: r.DecisionID,
		Arguments: r.ArgsRedacted, Actor: r.Actor, RecordHash: r.Hash,
	}
	switch f.kind {
	case KindGovernedCall, KindConfirmation, KindCallOutcome:
		e.Outcome = f.detail.Outcome
		e.Note = f.detail.Note
	case KindObservedCall:
		e.Anomaly = r.Anomaly
		e.Flagged = f.anomaly != nil && f.anomaly.Flagged
	case KindApproval:
		if r.Decision == approvalApproved || r.Decision == approvalRejected || r.Decision == approvalExpired {
			at := r.Time
			e.DecidedBy, e.DecidedAt = r.Actor, &at
		}
		e.Note = f.detail.Note
	case KindInterrupt:
		e.Event = r.Decision
		e.Note = f.detail.Reason
		if e.Note == "" && len(r.Reasons) > 0 {
			e.Note = r.Reasons[0]
		}
		e.Automatic = f.automatic()
	case KindSession, KindOther:
		e.Event = r.Decision
	}
	return e
}

// automatic reports whether an interrupt was the gateway's own.
func (f *facts) automatic() bool {
	return f.detail.Automatic || f.rec.Actor == ActorSystem
}

// hasReason reports whether one of the record's reasons has the code.
func hasReason(rec *audit.Record, code string) bool {
	for _, r := range rec.Reasons {
		if r == code || strings.HasPrefix(r, code+":") {
			return true
		}
	}
	return false
}

// policyDecision reports whether the record holds a policy decision.
func policyDecision(d string) bool {
	return d == policy.Allow || d == policy.Deny || d == policy.RequireApproval
}
