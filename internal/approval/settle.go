package approval

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/audit"
)

// settle completes an event's side effects that are not yet done: the
// audit record, then the webhook and the session message. Each is marked
// done in the store once it succeeded; what fails is left for the sweeper.
// It reports whether the audit record is written. Side effects outlive a
// client that disconnects (context.WithoutCancel plus a timeout each).
func (s *Service) settle(ctx context.Context, rec Record, ev Event) bool {
	if s.SettleLater {
		return ev.AuditedAt != nil
	}
	ctx = context.WithoutCancel(ctx)
	newlyAudited := ev.AuditedAt == nil && s.audit(ctx, rec, ev)
	newlyNotified := ev.NotifiedAt == nil && s.notify(ctx, rec, ev)
	if newlyAudited || newlyNotified {
		if err := s.Store.MarkSettled(ctx, ev.ID, newlyAudited, newlyNotified, s.now()); err != nil {
			// The sweeper will redo what is unmarked: at least once.
			s.logSideEffect(ctx, "could not mark event settled", rec, ev, err)
		}
	}
	return ev.AuditedAt != nil || newlyAudited
}

func (s *Service) logSideEffect(ctx context.Context, msg string, rec Record, ev Event, err error) {
	s.Logger.LogAttrs(ctx, slog.LevelError, msg, slog.String(logKeyTenant, rec.TenantID),
		slog.String(logKeyAction, rec.ID), slog.String(logKeyEvent, ev.ID), slog.String(logKeyError, err.Error()))
}

func (s *Service) audit(ctx context.Context, rec Record, ev Event) bool {
	if s.Auditor == nil {
		return true
	}
	actx, cancel := context.WithTimeout(ctx, s.sideTimeout())
	defer cancel()
	if _, err := s.Auditor.Append(actx, AuditRecord(rec.Action, ev)); err != nil {
		s.logSideEffect(ctx, "could not audit approval event", rec, ev, err)
		return false
	}
	return true
}

// AuditRecord is the audit record of one state change of a.
func AuditRecord(a Action, ev Event) audit.Record {
	detail := map[string]any{"event_id": ev.ID, "to": ev.To}
	if ev.From != "" {
		detail["from"] = ev.From
	}
	if ev.Note != "" {
		detail["note"] = ev.Note
	}
	rec := audit.Record{
		TenantID: a.TenantID, Time: ev.At, Source: audit.SourceApproval,
		SessionID: a.SessionID, AgentID: a.AgentID, ActionID: a.ID, Tool: a.Tool,
		Decision: string(ev.To), PolicyVersion: a.PolicyVersion, DecisionID: a.DecisionID,
		ArgsDigest: a.ArgsDigest, ArgsRedacted: a.ArgsRedacted, Actor: ev.Actor,
	}
	switch ev.To {
	case StatusExpired:
		detail["expires_at"] = a.ExpiresAt
	case StatusExecuted, StatusFailed, StatusCancelled:
		rec.ResultDigest = a.ResultDigest
		rec.Outcome = executionOutcome(a)
		if a.Failure != nil {
			detail["failure"] = a.Failure
			rec.Reasons = a.Failure.Reasons
		}
	}
	rec.Detail, _ = json.Marshal(detail) // maps of strings and times always marshal
	return rec
}

// executionOutcome is the audit outcome of an approved action's
// execution: executed; cancelled when its session had ended by the time
// it would run; denied when the agent's configuration or the policy
// refused it then; failed otherwise.
func executionOutcome(a Action) audit.Outcome {
	switch {
	case a.Status == StatusExecuted:
		return audit.OutcomeExecuted
	case a.Failure != nil && a.Failure.Code == FailurePolicyDenied:
		for _, r := range a.Failure.Reasons {
			if strings.HasPrefix(r, "session_ended") {
				return audit.OutcomeCancelled
			}
		}
		return audit.OutcomeDenied
	}
	return audit.OutcomeFailed
}

// webhookEvent is the webhook event for a change to status to ("" for none).
func webhookEvent(to Status) string {
	switch to {
	case StatusPending:
		return EventPendingApproval
	case StatusApproved:
		return EventApproved
	case StatusRejected:
		return EventRejected
	case StatusExpired:
		return EventExpired
	case StatusExecuted, StatusFailed:
		return EventExecuted
	case StatusCancelled:
		return EventCancelled
	}
	return ""
}

// WebhookData is the data object of an action's webhook events. It never
// carries sensitive arguments or a result: receivers get the redacted
// arguments and the result's digest, and fetch the rest through the API.
type WebhookData struct {
	ActionID      string          `json:"action_id"`
	Status        Status          `json:"status"`
	Tool          string          `json:"tool"`
	SessionID     string          `json:"session_id,omitempty"`
	AgentID       string          `json:"agent_id,omitempty"`
	Arguments     json.RawMessage `json:"arguments,omitempty"`
	ArgsDigest    string          `json:"args_digest"`
	PolicyVersion string          `json:"policy_version,omitempty"`
	DecisionID    string          `json:"decision_id,omitempty"`
	Reasons       []string        `json:"reasons,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	ExpiresAt     time.Time       `json:"expires_at"`
	DecidedBy     string          `json:"decided_by,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	ResultDigest  string          `json:"result_digest,omitempty"`
	Failure       *Failure        `json:"failure,omitempty"`
}

func webhookData(a Action, ev Event) WebhookData {
	d := WebhookData{
		ActionID: a.ID, Status: ev.To, Tool: a.Tool, SessionID: a.SessionID, AgentID: a.AgentID,
		ArgsDigest: a.ArgsDigest, PolicyVersion: a.PolicyVersion, DecisionID: a.DecisionID,
		Reasons: a.Reasons, CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt,
	}
	if len(a.ArgsRedacted) > 0 {
		d.Arguments = a.ArgsRedacted
	}
	switch ev.To {
	case StatusApproved, StatusRejected:
		d.DecidedBy, d.Reason = a.DecidedBy, a.Note
	case StatusExecuted, StatusFailed:
		d.DecidedBy, d.Reason = a.DecidedBy, a.Note
		d.ResultDigest, d.Failure = a.ResultDigest, a.Failure
	case StatusCancelled:
		d.DecidedBy, d.Failure = a.DecidedBy, a.Failure
	}
	return d
}

// notify emits the event's webhook and, for a settled action of a
// session, tells the session. It reports whether both succeeded.
func (s *Service) notify(ctx context.Context, rec Record, ev Event) bool {
	ok := true
	if name := webhookEvent(ev.To); name != "" && s.Emitter != nil {
		// Non-sensitive arguments are not personal data or secrets; show
		// them when there is no redacted form.
		a := rec.Action
		if len(a.ArgsRedacted) == 0 && !rec.ArgsSealed {
			a.ArgsRedacted = json.RawMessage(rec.ArgsStored)
		}
		ectx, cancel := context.WithTimeout(ctx, s.sideTimeout())
		err := s.Emitter.EmitOnce(ectx, ev.ID, rec.TenantID, name, webhookData(a, ev))
		cancel()
		if err != nil {
			s.logSideEffect(ctx, "could not emit approval webhook", rec, ev, err)
			ok = false
		}
	}
	if s.Notifier != nil && rec.SessionID != "" && ev.To.Final() {
		a := rec.Action
		var err error
		if a.Result, err = s.openResult(ctx, rec); err != nil {
			s.logSideEffect(ctx, "could not open result for the session", rec, ev, err)
		}
		nctx, cancel := context.WithTimeout(ctx, s.sideTimeout())
		err = s.Notifier.ActionSettled(nctx, a)
		cancel()
		if err != nil {
			s.logSideEffect(ctx, "could not tell the session about a settled action", rec, ev, err)
			ok = false
		}
	}
	return ok
}
