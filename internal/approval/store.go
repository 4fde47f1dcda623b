package approval

import (
	"context"
	"time"

	"github.com/vargate/vargate"
)

// Record is an action as stored: the arguments and result in stored form
// (sealed or plain JSON) plus the execution lease.
type Record struct {
	Action
	// ArgsStored is Args as stored: JSON, or sealed bytes if ArgsSealed.
	ArgsStored []byte
	ArgsSealed bool
	// ResultStored is Result as stored, like ArgsStored.
	ResultStored []byte
	ResultSealed bool
	// Runner identifies the gateway process executing the action and
	// LeaseUntil when its claim lapses (status executing only).
	Runner     string
	LeaseUntil *time.Time
	// Version counts changes, starting at 1.
	Version int
}

// Transition is one compare-and-set of an action's status. Only the
// fields for the target status are written:
//   - approved, rejected: DecidedBy, Note (decided_at = At)
//   - executing: Runner, LeaseUntil
//   - executed, failed: ResultStored, ResultSealed, ResultDigest, Failure
//     (finished_at = At)
//   - cancelled: Failure, which says why (finished_at = At)
//   - expired: nothing else.
type Transition struct {
	TenantID string
	ID       string
	// From lists the statuses the action may be in; any other is a
	// conflict.
	From []Status
	To   Status
	// Event is the history row written with the change; its ID, Actor
	// and Note are taken as given, its Seq, From, To and At are filled in.
	Event Event
	At    time.Time
	// Unexpired additionally requires expires_at to be after At.
	Unexpired bool

	DecidedBy    string
	Note         string
	Runner       string
	LeaseUntil   time.Time
	ResultStored []byte
	ResultSealed bool
	ResultDigest string
	Failure      *Failure
}

// Filter selects actions for List. Zero fields do not filter.
type Filter struct {
	Status    Status
	SessionID string
	AgentID   string
	// KeyID selects the actions queued with one credential.
	KeyID string
	Tool  string
	// Before is the pagination cursor: only actions created before it.
	Before time.Time
	// Limit caps the number of actions (DefaultListLimit when 0, at most
	// MaxListLimit).
	Limit int
}

// Page sizes for List.
const (
	DefaultListLimit = vargate.DefaultListLimit
	MaxListLimit     = vargate.MaxListLimit
)

// EffectiveLimit returns f.Limit clamped to [1, MaxListLimit], with 0
// meaning DefaultListLimit.
func (f Filter) EffectiveLimit() int { return vargate.ListLimit(f.Limit) }

// Store persists actions and their events. internal/sqlstore implements
// it for SQLite and PostgreSQL.
type Store interface {
	// Create inserts a pending action together with its first event. A
	// duplicate ID is a conflict.
	Create(ctx context.Context, r Record, ev Event) error
	// Get returns the tenant's action, or a not-found error.
	Get(ctx context.Context, tenantID, id string) (Record, error)
	// List returns the tenant's actions matching f, newest first.
	List(ctx context.Context, tenantID string, f Filter) ([]Record, error)
	// Counts returns the number of the tenant's actions in each status.
	Counts(ctx context.Context, tenantID string) (map[Status]int, error)
	// CountUnsettled returns the number of the session's actions that
	// are pending and not expired at now (expires_at after now), approved
	// or executing.
	CountUnsettled(ctx context.Context, tenantID, sessionID string, now time.Time) (int, error)
	// Events returns an action's events in order.
	Events(ctx context.Context, tenantID, id string) ([]Event, error)
	// Transition changes the action's status if it is one of t.From, and
	// writes t.Event, in one transaction. It returns the changed record and
	// the stored event. If the status is not one of t.From the error is a
	// conflict (nothing is written); an unknown action is not found.
	Transition(ctx context.Context, t Transition) (Record, Event, error)
	// Due returns actions (any tenant) in status whose deadline is at or
	// before now: expires_at for pending, lease_until for executing,
	// decided_at for approved. Oldest first, at most limit.
	Due(ctx context.Context, status Status, now time.Time, limit int) ([]Record, error)
	// Unsettled returns events (any tenant) at or before before whose
	// audit record or notifications are not yet done, oldest first.
	Unsettled(ctx context.Context, before time.Time, limit int) ([]Event, error)
	// MarkSettled records, in one write, that an event's audit record
	// (audited) and/or notifications (notified) are done.
	MarkSettled(ctx context.Context, eventID string, audited, notified bool, at time.Time) error
}
