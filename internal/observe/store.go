package observe

import (
	"context"
	"encoding/json"
	"time"
)

// States of an observed session's consumer.
const (
	StateActive = "active" // someone must consume it
	StateDone   = "done"   // the session ended; nothing left to consume
)

// Session is an observed session as stored: the governance snapshot and
// the consumer's progress and lease.
type Session struct {
	Target
	State string
	// Outcome is the session's final status once State is done.
	Outcome string
	// PendingStep is a lifecycle step (see Batch.PendingStep) stored but
	// not yet taken by the session lifecycle.
	PendingStep string
	// Owner is the process holding the lease; LeaseUntil when it lapses.
	Owner      string
	LeaseUntil time.Time
	// Cursor is the processed_at of the newest event handled; a resumed
	// consumer back-fills the history from shortly before it.
	Cursor time.Time
	// NextSeq is the seq the next new event gets.
	NextSeq int64
	// Score and ScoreAt are the decayed anomaly score and when it was
	// last updated.
	Score   float64
	ScoreAt time.Time
	// UpstreamStatus is the last session status seen on the stream
	// (idle, running, rescheduling, terminated).
	UpstreamStatus string
	// AutoInterrupted is set once the anomaly score crossed the threshold
	// and the session was interrupted for it.
	AutoInterrupted bool
	// InterruptEvent is the upstream ID of the last user.interrupt sent.
	InterruptEvent string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	EndedAt        *time.Time
}

// Event is one stored session event (its identity and place, not its
// payload: tool calls are kept as ToolUse and audited).
type Event struct {
	SessionID   string
	EventID     string
	TenantID    string
	Seq         int64
	Type        string
	ThreadID    string
	ProcessedAt time.Time
	ReceivedAt  time.Time
}

// ToolUse is one tool call seen on the stream and what became of it.
type ToolUse struct {
	SessionID string
	// ToolUseID is the upstream event ID of the agent.tool_use or
	// agent.mcp_tool_use.
	ToolUseID string
	TenantID  string
	ThreadID  string
	Tool      string
	// MCPServer is the MCP server's name for an MCP tool; empty for a
	// built-in tool.
	MCPServer string
	// Permission is the upstream evaluated_permission: allow, ask or deny.
	Permission    string
	ArgsDigest    string
	InputRedacted json.RawMessage
	// Anomaly is the audit record's anomaly object (flags, severity,
	// score, session score, threshold).
	Anomaly json.RawMessage
	UsedAt  time.Time
	// The result, once it arrived.
	ResultEvent   string
	ResultExcerpt string
	ResultDigest  string
	IsError       bool
	ResultAt      *time.Time
	// Decision is Vargate's answer to a confirmation request: allow,
	// deny or escalated (to a human), then allow or deny once the human
	// decided; empty when none was asked or it is not yet decided.
	Decision     string
	DecisionNote string
	// ActionID is the approval action of an escalated confirmation.
	ActionID    string
	ConfirmedAt *time.Time
	// LinkedAction is the action ID of the governed record of a call to
	// Vargate's own MCP server (which then has no observed record).
	LinkedAction string
	AuditedAt    *time.Time
}

// Batch is what a consumer writes after handling a batch of events, in
// one transaction fenced on its lease.
type Batch struct {
	SessionID string
	Owner     string
	// Events are the new events; one already stored is skipped.
	Events []Event
	// ToolUses are inserted or replaced whole.
	ToolUses []ToolUse
	// Audited are tool uses whose audit record was written since the
	// last batch: their audited_at is set (to At).
	Audited []string
	// The consumer's progress after the batch.
	Cursor         time.Time
	NextSeq        int64
	Score          float64
	ScoreAt        time.Time
	UpstreamStatus string
	// AutoInterrupted is only ever set, never cleared.
	AutoInterrupted bool
	// PendingStep, when set, replaces the session's pending lifecycle
	// step: "idle:STOP_REASON", "running" or "failed:REASON".
	PendingStep string
	At          time.Time
}

// Store persists observed sessions, their events and tool uses. The SQL
// implementation is internal/sqlstore.ObserveStore.
type Store interface {
	// Register adds an active session, leased to owner until until when
	// owner is not empty; registering one that exists is a no-op (the
	// first snapshot wins).
	Register(ctx context.Context, t Target, owner string, at, until time.Time) error
	// Get returns a tenant's observed session.
	Get(ctx context.Context, tenantID, sessionID string) (Session, error)
	// Claim takes the lease of active sessions that are unowned, owned by
	// owner already, or whose lease lapsed before now, up to limit, and
	// returns them. Concurrent claimers never get the same session.
	Claim(ctx context.Context, owner string, now, until time.Time, limit int) ([]Session, error)
	// ClaimSession is Claim for one session; ok is false when another
	// process holds it or it is done.
	ClaimSession(ctx context.Context, sessionID, owner string, now, until time.Time) (s Session, ok bool, err error)
	// Renew extends owner's leases of the given sessions to until and
	// returns the IDs it still holds.
	Renew(ctx context.Context, owner string, sessionIDs []string, until time.Time) ([]string, error)
	// Release gives up owner's lease of the session.
	Release(ctx context.Context, owner, sessionID string) error
	// Commit writes a batch. It fails with ErrLeaseLost (and writes
	// nothing) when owner no longer holds the session.
	Commit(ctx context.Context, b Batch) error
	// StepDone clears the session's pending lifecycle step if it is step.
	StepDone(ctx context.Context, sessionID, step string) error
	// Finish marks owner's session done with the outcome (ended_at = at).
	Finish(ctx context.Context, owner, sessionID, outcome string, at time.Time) error
	// SetInterruptEvent records the upstream ID of a user.interrupt sent
	// to the session (by any process; not fenced).
	SetInterruptEvent(ctx context.Context, sessionID, eventID string, at time.Time) error
	// EventIDsSince returns the IDs of the session's events processed at
	// or after since.
	EventIDsSince(ctx context.Context, sessionID string, since time.Time) ([]string, error)
	// ExistingEvents returns which of the event IDs the session has stored.
	ExistingEvents(ctx context.Context, sessionID string, eventIDs []string) ([]string, error)
	// OpenToolUses returns the session's tool uses not yet audited.
	OpenToolUses(ctx context.Context, sessionID string) ([]ToolUse, error)
	// MarkAudited sets audited_at on tool uses.
	MarkAudited(ctx context.Context, sessionID string, toolUseIDs []string, at time.Time) error
	// SetDecision records the decision on a confirmation request;
	// confirmed says whether it was sent upstream (confirmed_at = at).
	SetDecision(ctx context.Context, sessionID, toolUseID, decision, note, actionID string, confirmed bool, at time.Time) error
	// Link records the governed action of a call to Vargate's own MCP
	// server.
	Link(ctx context.Context, sessionID, toolUseID, actionID string) error
	// ToolUseByAction returns the tool use of an escalated confirmation.
	ToolUseByAction(ctx context.Context, tenantID, actionID string) (ToolUse, error)
	// InterruptState reports, for the user.interrupt event eventID of the
	// session, whether it has been stored yet and whether the session was
	// idle (or terminated) after it: a status idle or terminated event
	// after it, or, if the session was already idle when it arrived, no
	// status event since.
	InterruptState(ctx context.Context, sessionID, eventID string) (seen, idle bool, err error)
	// CountEvents returns how many of the session's events have the type.
	CountEvents(ctx context.Context, sessionID, typ string) (int, error)
	// PruneDone deletes the consumer state — stored event identities,
	// tool uses and the session row — of up to limit sessions whose
	// consumer finished before `before`, and returns how many. The audit
	// trail keeps what they recorded.
	PruneDone(ctx context.Context, before time.Time, limit int) (int, error)
}
