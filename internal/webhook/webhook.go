package webhook

import (
	"context"
	"time"

	"github.com/vargate/vargate"
)

// The events a tenant can subscribe to.
const (
	EventPendingApproval    = "action.pending_approval"
	EventDenied             = "action.denied"
	EventApproved           = "action.approved"
	EventRejected           = "action.rejected"
	EventExpired            = "action.expired"
	EventExecuted           = "action.executed"
	EventCancelled          = "action.cancelled"
	EventAnomalyDetected    = "anomaly.detected"
	EventSessionInterrupted = "session.interrupted"
	EventSessionCompleted   = "session.completed"
	EventSessionExpired     = "session.expired"
	// EventToolChanged: an upstream MCP server serves a tool definition
	// other than the pinned one (withheld until an admin approves).
	EventToolChanged = "tool.changed"
)

// EventTest is the event of a test ping (POST /webhooks/test). It is sent
// once, whatever the subscription, and never retried.
const EventTest = "webhook.test"

// Events returns every event a tenant can subscribe to.
func Events() []string {
	return []string{
		EventPendingApproval, EventDenied, EventApproved, EventRejected, EventExpired, EventExecuted, EventCancelled,
		EventAnomalyDetected, EventSessionInterrupted, EventSessionCompleted, EventSessionExpired, EventToolChanged,
	}
}

// KnownEvent reports whether name is one of Events.
func KnownEvent(name string) bool {
	for _, e := range Events() {
		if e == name {
			return true
		}
	}
	return false
}

// Settings is a tenant's webhook endpoint. Its secret is never part of it.
type Settings struct {
	TenantID string
	URL      string
	// Events are the subscribed events; empty means all of them.
	Events    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Subscribed reports whether the endpoint wants event.
func (s Settings) Subscribed(event string) bool {
	if len(s.Events) == 0 {
		return true
	}
	for _, e := range s.Events {
		if e == event {
			return true
		}
	}
	return false
}

// StoredSettings is Settings with the sealed signing secret.
type StoredSettings struct {
	Settings
	SecretSealed []byte
}

// Status is where a message is in its delivery.
type Status string

// The message statuses.
const (
	// StatusPending: waiting for its next attempt.
	StatusPending Status = "pending"
	// StatusDelivered: the endpoint answered 2xx.
	StatusDelivered Status = "delivered"
	// StatusFailed: every attempt for MaxAge failed, the endpoint answered
	// 410 Gone, or a test ping failed. Retry puts it back in the queue.
	StatusFailed Status = "failed"
	// StatusCancelled: the tenant removed its webhook before delivery.
	StatusCancelled Status = "cancelled"
)

// Message is one event in the outbox: the exact body that is signed and
// sent, and where its delivery stands.
type Message struct {
	ID       string `json:"id"`
	TenantID string `json:"-"`
	Event    string `json:"event"`
	// Payload is the JSON body: {"type", "timestamp", "data"}.
	Payload       []byte    `json:"-"`
	Status        Status    `json:"status"`
	Attempts      int       `json:"attempts"`
	CreatedAt     time.Time `json:"created_at"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// GiveUpAt is when retrying stops (CreatedAt plus the service's
	// MaxAge, or a manual retry's time plus MaxAge).
	GiveUpAt      time.Time  `json:"give_up_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	// LastStatusCode is the HTTP status of the last attempt (0: no answer).
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// Attempt is one try at delivering a message.
type Attempt struct {
	MessageID string    `json:"-"`
	N         int       `json:"attempt"`
	TenantID  string    `json:"-"`
	At        time.Time `json:"at"`
	URL       string    `json:"url"`
	// StatusCode is the HTTP status answered (0: none).
	StatusCode int           `json:"status_code,omitempty"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"-"`
}

// MessageFilter selects messages for the delivery log. Zero fields do not
// filter.
type MessageFilter struct {
	Status Status
	Event  string
	// Before is the pagination cursor: only messages created before it.
	Before time.Time
	// Limit caps the number of messages (DefaultListLimit when 0, at most
	// MaxListLimit).
	Limit int
}

// Page sizes for the delivery log.
const (
	DefaultListLimit = vargate.DefaultListLimit
	MaxListLimit     = vargate.MaxListLimit
)

// EffectiveLimit returns f.Limit clamped to [1, MaxListLimit], with 0
// meaning DefaultListLimit.
func (f MessageFilter) EffectiveLimit() int { return vargate.ListLimit(f.Limit) }

// Store persists settings and the outbox. internal/sqlstore implements it
// for SQLite and PostgreSQL.
type Store interface {
	// Settings returns the tenant's endpoint, or a not-found error.
	Settings(ctx context.Context, tenantID string) (StoredSettings, error)
	// PutSettings creates or replaces the tenant's endpoint.
	PutSettings(ctx context.Context, s StoredSettings) error
	// DeleteSettings removes the tenant's endpoint (no error if none).
	DeleteSettings(ctx context.Context, tenantID string) error
	// InsertMessage adds a message to the outbox. It reports false, and
	// writes nothing, if a message with the same ID exists.
	InsertMessage(ctx context.Context, m Message) (bool, error)
	// InsertMessages adds messages in one transaction, skipping any whose
	// ID exists.
	InsertMessages(ctx context.Context, ms []Message) error
	// Claim takes up to limit pending messages (any tenant) due at now:
	// each gets its attempt count raised by one and its next attempt set
	// to leaseUntil, so no other worker takes it meanwhile.
	Claim(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Message, error)
	// RecordAttempt logs a and updates the pending message: its status,
	// next attempt time and last-attempt fields (finished_at when the new
	// status is not pending).
	RecordAttempt(ctx context.Context, a Attempt, status Status, next time.Time) error
	// Release makes a claimed, pending message due again at next without
	// logging an attempt (used when shutting down mid-delivery).
	Release(ctx context.Context, id string, next time.Time) error
	// Messages returns the tenant's messages matching f, newest first.
	Messages(ctx context.Context, tenantID string, f MessageFilter) ([]Message, error)
	// Message returns one of the tenant's messages, or a not-found error.
	Message(ctx context.Context, tenantID, id string) (Message, error)
	// Attempts returns a message's attempts in order.
	Attempts(ctx context.Context, tenantID, id string) ([]Attempt, error)
	// Retry puts a failed or cancelled message back in the queue, due at
	// now and retried until giveUpAt; a pending or delivered one is a
	// conflict.
	Retry(ctx context.Context, tenantID, id string, now, giveUpAt time.Time) error
	// PruneMessages deletes up to limit messages (any tenant) that
	// finished — delivered, failed or cancelled — before `before`, with
	// their attempts, and returns how many it deleted. Pending messages
	// are never deleted.
	PruneMessages(ctx context.Context, before time.Time, limit int) (int, error)
}

// Sealer encrypts values under the tenant's data key, bound to a purpose
// (additional data). The credential vault implements it.
type Sealer interface {
	Seal(ctx context.Context, tenantID, purpose string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, tenantID, purpose string, sealed []byte) ([]byte, error)
}
