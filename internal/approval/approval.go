package approval

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/audit"
)

// Status is where an action is in its life.
type Status string

// The statuses. Executed, failed, rejected, expired and cancelled are
// final.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusExecuting Status = "executing"
	StatusExecuted  Status = "executed"
	StatusFailed    Status = "failed"
	StatusRejected  Status = "rejected"
	StatusExpired   Status = "expired"
	// StatusCancelled: the action was still waiting (pending, or approved
	// but not started) when what it needed went away — its session
	// ended, its agent was archived or no longer allows the tool, or the
	// key that queued it was revoked. It never runs.
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in life order.
func Statuses() []Status {
	return []Status{StatusPending, StatusApproved, StatusExecuting, StatusExecuted, StatusFailed, StatusRejected, StatusExpired, StatusCancelled}
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if s == v {
			return true
		}
	}
	return false
}

// Final reports whether s is an end state.
func (s Status) Final() bool {
	switch s {
	case StatusExecuted, StatusFailed, StatusRejected, StatusExpired, StatusCancelled:
		return true
	}
	return false
}

// Request is a tool call that policy sent to a human. govern builds it
// from the call it just evaluated.
type Request struct {
	// ID is the action ID the caller already used (for example in its
	// decision's audit record); empty assigns a new one (a UUID).
	ID        string
	TenantID  string
	SessionID string
	AgentID   string
	// KeyID is the credential that made the call (an agent key's ID, or
	// a session token's), so that revoking it cancels the action.
	KeyID string
	Tool  string
	// Args is the exact, unredacted arguments of the call, as a JSON
	// object. They are what runs on approval.
	Args json.RawMessage
	// ArgsDigest is the digest of Args the decision recorded.
	ArgsDigest string
	// ArgsRedacted is Args with personal data and secrets redacted: what
	// auditors, webhooks and listings show. Optional; without it a
	// sensitive action shows no arguments outside its detail view.
	ArgsRedacted  json.RawMessage
	PolicyVersion string
	DecisionID    string
	// Reasons are why policy asked for a human.
	Reasons []string
	// Sensitive marks arguments that hold personal data or secrets: they
	// (and the result) are stored sealed with the tenant's data key.
	Sensitive bool
	// TTL overrides the service's TTL for this action when positive.
	TTL time.Duration
}

// Action is a queued tool call and everything that happened to it.
type Action struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	SessionID string `json:"session_id,omitempty"`
	AgentID   string `json:"agent_id,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
	Tool      string `json:"tool"`
	// Args is the exact arguments. Set by Get and by the service when it
	// calls the Executor; empty in listings.
	Args          json.RawMessage `json:"arguments,omitempty"`
	ArgsRedacted  json.RawMessage `json:"arguments_redacted,omitempty"`
	ArgsDigest    string          `json:"args_digest"`
	Sensitive     bool            `json:"sensitive"`
	PolicyVersion string          `json:"policy_version,omitempty"`
	DecisionID    string          `json:"decision_id,omitempty"`
	Reasons       []string        `json:"reasons,omitempty"`
	Status        Status          `json:"status"`
	CreatedAt     time.Time       `json:"created_at"`
	ExpiresAt     time.Time       `json:"expires_at"`
	// DecidedAt, DecidedBy and Note are set by approve or reject:
	// DecidedBy is the API key ID of the human, Note the reason they gave.
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
	Note      string     `json:"reason,omitempty"`
	// FinishedAt, Result and Failure are set when execution ends (and
	// FinishedAt and Failure when the action is cancelled). Result is
	// what the tool returned (set by Get, like Args).
	FinishedAt   *time.Time      `json:"finished_at,omitempty"`
	Result       json.RawMessage `json:"result,omitempty"`
	ResultDigest string          `json:"result_digest,omitempty"`
	Failure      *Failure        `json:"failure,omitempty"`
	// History is every state change, oldest first (set by Get).
	History []Event `json:"history,omitempty"`
}

// Failure says why an approved action did not execute, or did not finish,
// or why an action was cancelled.
type Failure struct {
	Code    FailureCode `json:"code"`
	Message string      `json:"message"`
	// Reasons are the policy's reasons when Code is FailurePolicyDenied.
	Reasons []string `json:"reasons,omitempty"`
}

// FailureCode classifies a Failure.
type FailureCode string

// The failure codes.
const (
	// FailurePolicyDenied: re-evaluation against the active policy denied
	// the action, so it was not executed.
	FailurePolicyDenied FailureCode = "policy_denied"
	// FailureExecution: the tool ran (or tried to) and reported an error.
	FailureExecution FailureCode = "execution_error"
	// FailureInterrupted: the gateway stopped while the action was
	// executing. Whether the tool's effect happened is unknown; the action
	// is not run again.
	FailureInterrupted FailureCode = "outcome_unknown"
	// FailureAuditUnavailable: the intent to execute could not be audited,
	// so the action was not executed.
	FailureAuditUnavailable FailureCode = "audit_unavailable"
	// FailureSealed: the sealed arguments could not be opened, so the
	// action was not executed.
	FailureSealed FailureCode = "arguments_unavailable"
	// FailureCancelled: the action was cancelled before it ran (its
	// session ended, its agent was archived or no longer allows the
	// tool, or its key was revoked); the message says which.
	FailureCancelled FailureCode = "cancelled"
)

// Event is one state change of an action.
type Event struct {
	ID       string    `json:"id"`
	ActionID string    `json:"-"`
	TenantID string    `json:"-"`
	Seq      int       `json:"seq"`
	At       time.Time `json:"at"`
	From     Status    `json:"from,omitempty"`
	To       Status    `json:"to"`
	// Actor is who caused the change: an API key ID, or "system".
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
	// AuditedAt and NotifiedAt are set once the change's audit record and
	// notifications (webhook, session message) are written.
	AuditedAt  *time.Time `json:"-"`
	NotifiedAt *time.Time `json:"-"`
}

// ActorSystem is the Actor of changes the gateway makes on its own
// (expiry, execution, recovery).
const ActorSystem = "system"

// ErrPolicyNowDenies is matched (errors.Is) by the error an Executor
// returns when re-evaluating an approved action against the active policy
// denied it. Return a *PolicyDeniedError to pass the reasons.
var ErrPolicyNowDenies = errors.New("the active policy now denies this action")

// PolicyDeniedError is the Executor's error for an approved action that
// the active policy now denies. The action is then not executed, and the
// approver is told the reasons.
type PolicyDeniedError struct {
	Reasons       []string
	PolicyVersion string
	DecisionID    string
}

func (e *PolicyDeniedError) Error() string {
	if len(e.Reasons) == 0 {
		return ErrPolicyNowDenies.Error()
	}
	return ErrPolicyNowDenies.Error() + ": " + strings.Join(e.Reasons, "; ")
}

// Is makes errors.Is(err, ErrPolicyNowDenies) true.
func (e *PolicyDeniedError) Is(target error) bool { return target == ErrPolicyNowDenies }

// Executor runs an approved action. internal/govern implements it: it
// re-evaluates the action against the active policy first and returns a
// *PolicyDeniedError (without running anything) if the policy now denies
// it; otherwise it runs the tool and returns its result. The action's
// Args are the exact, opened arguments. ctx carries a deadline; the
// service calls ExecuteApproved at most once per action.
type Executor interface {
	ExecuteApproved(ctx context.Context, a Action) (result json.RawMessage, err error)
}

// SessionNotifier tells a managed session that one of its actions was
// settled (executed, failed, rejected, expired or cancelled), so that an agent which
// ended its turn can carry on. internal/session implements it and decides
// whether a message is needed. Delivery is at least once: after a crash
// the same settlement may be reported twice (the Action's ID and Status
// identify it).
type SessionNotifier interface {
	ActionSettled(ctx context.Context, a Action) error
}

// Emitter writes a webhook event to the durable outbox. EmitOnce is
// idempotent on id: a second call with the same id writes nothing.
// internal/webhook implements it.
type Emitter interface {
	EmitOnce(ctx context.Context, id, tenantID, event string, data any) error
}

// Auditor appends to the tenant's audit trail; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// Sealer encrypts values under the tenant's data key, bound to a purpose
// (additional data), so a sealed value opens only for the same tenant and
// purpose. The credential vault implements it.
type Sealer interface {
	Seal(ctx context.Context, tenantID, purpose string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, tenantID, purpose string, sealed []byte) ([]byte, error)
}

// Webhook event names this package emits.
const (
	EventPendingApproval = "action.pending_approval"
	EventApproved        = "action.approved"
	EventRejected        = "action.rejected"
	EventExpired         = "action.expired"
	EventExecuted        = "action.executed"
	EventCancelled       = "action.cancelled"
)
