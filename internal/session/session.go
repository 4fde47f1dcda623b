package session

import (
	"context"
	"time"

	"github.com/vargate/vargate/internal/audit"
)

// Status is where a session is in its life.
type Status string

// The statuses.
const (
	// StatusCreating is a reservation: the budget slot is held while the
	// upstream resources are made. It is never shown as a session status
	// to clients, who only see sessions that were created.
	StatusCreating Status = "creating"
	// StatusActive: the agent is working.
	StatusActive Status = "active"
	// StatusAwaitingApproval: the agent ended its turn with actions still
	// waiting for a human; their outcome is sent to it as a message.
	StatusAwaitingApproval Status = "awaiting_approval"
	// StatusCompleted: the agent ended its turn with nothing pending. A
	// message makes the session active again.
	StatusCompleted Status = "completed"
	// StatusInterrupted: stopped by a human or the gateway. Final.
	StatusInterrupted Status = "interrupted"
	// StatusExpired: ran past the configuration's max_session_hours. Final.
	StatusExpired Status = "expired"
	// StatusFailed: terminated upstream or an unrecoverable error. Final.
	StatusFailed Status = "failed"
)

// Running reports whether the session holds a concurrency slot: creating,
// active or awaiting approval.
func (s Status) Running() bool {
	return s == StatusCreating || s == StatusActive || s == StatusAwaitingApproval
}

// Final reports whether the session has ended for good.
func (s Status) Final() bool {
	return s == StatusInterrupted || s == StatusExpired || s == StatusFailed
}

// Ended reports whether the agent's work has ended: a final status, or
// completed (the turn ended with nothing pending). An ended session has
// ended_at, runs no tool call and cannot be interrupted; only a completed
// one can be started again, by a message, which clears ended_at.
func (s Status) Ended() bool {
	return s.Final() || s == StatusCompleted
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s.Running() || s.Final() || s == StatusCompleted
}

// Session is a governed session.
type Session struct {
	// ID is "vs-" and 16 hex digits.
	ID       string
	TenantID string
	AgentID  string
	// AgentVersion is the configuration version the session pinned.
	AgentVersion int
	Status       Status
	// TokenID identifies the session's MCP token (the Principal's KeyID);
	// the token itself is stored only as its hash.
	TokenID   string
	TokenHash []byte
	// Account identifies the Anthropic account (key) the session runs on.
	Account            string
	AnthropicSessionID string
	AnthropicAgentID   string
	EnvironmentID      string
	VaultID            string
	// SystemPromptHash is "sha256:" and the hex SHA-256 of the final,
	// governance-injected system prompt.
	SystemPromptHash string
	MCPServerURL     string
	// DelegationChain lists the agent configurations from the root of the
	// delegation chain down to AgentID (last).
	DelegationChain []string
	// ParentSessionID is the session that delegated to this one, if any.
	ParentSessionID string
	// StopReason is the last turn's stop reason from Anthropic (end_turn,
	// requires_action, retries_exhausted, …).
	StopReason string
	// EndReason says why a final session ended.
	EndReason string
	// CreatedBy is the key ID that created the session.
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is CreatedAt plus the configuration's max_session_hours.
	ExpiresAt time.Time
	EndedAt   *time.Time
	// CleanedAt is when the upstream resources of an ended or expired
	// session were removed.
	CleanedAt *time.Time
}

// DelegationDepth is 0 for a root agent's session, 1 for its sub-agent's,
// and so on.
func (s Session) DelegationDepth() int {
	if len(s.DelegationChain) == 0 {
		return 0
	}
	return len(s.DelegationChain) - 1
}

// Counters are a session's governance figures, counted from its audit
// records and the approval queue.
type Counters struct {
	// GovernedCalls are tool calls through the MCP server (one per action).
	GovernedCalls int
	// ObservedCalls are built-in tool calls seen on the event stream.
	ObservedCalls int
	// Denied are calls of either kind the gateway denied.
	Denied int
	// Pending are actions still waiting for a human or running.
	Pending int
}

// Settings are a tenant's overrides; nil fields take the Service's
// defaults.
type Settings struct {
	TenantID string
	// GovernanceTemplate replaces DefaultGovernanceTemplate.
	GovernanceTemplate *string
	MaxConcurrent      *int
	MaxDaily           *int
	UpdatedAt          time.Time
}

// Budget is what a reservation must fit in.
type Budget struct {
	// MaxConcurrent bounds the tenant's running sessions.
	MaxConcurrent int
	// MaxDailyTenant bounds the sessions the tenant creates per UTC day
	// (0: no bound); MaxDailyAgent those of the configuration.
	MaxDailyTenant int
	MaxDailyAgent  int
	// DayStart is the start of the current UTC day.
	DayStart time.Time
}

// Transition is one compare-and-set of a session's status.
type Transition struct {
	TenantID string
	ID       string
	// From lists the statuses the session may be in; any other is a
	// conflict and nothing is written.
	From []Status
	To   Status
	At   time.Time
	// StopReason and EndReason are written when not empty.
	StopReason string
	EndReason  string
	// MaxConcurrent, when positive, makes the move take the tenant's lock
	// and fail with KindRateLimited if the tenant already runs that many
	// sessions (for moves into a running status from one that is not).
	MaxConcurrent int
}

// Mirror is the Anthropic agent and environment that mirror one
// configuration for one Anthropic account.
type Mirror struct {
	AgentID string
	Account string
	// ConfigVersion is the configuration version the Anthropic agent was
	// last synced to.
	ConfigVersion    int
	AnthropicAgentID string
	// AnthropicVersion is the Anthropic agent's version after that sync.
	AnthropicVersion int64
	EnvironmentID    string
	// EnvironmentHash identifies the networking the environment was made
	// with.
	EnvironmentHash string
	UpdatedAt       time.Time
}

// Filter selects sessions for List.
type Filter struct {
	Status  Status
	AgentID string
	// Since and Until bound CreatedAt: Since ≤ CreatedAt < Until.
	Since, Until time.Time
	// Before is the pagination cursor: sessions created before it (ties
	// broken by BeforeID).
	Before   time.Time
	BeforeID string
	Limit    int
}

// Page sizes for List and Audit.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// EffectiveLimit returns f.Limit clamped to [1, MaxListLimit].
func (f Filter) EffectiveLimit() int { return clampLimit(f.Limit) }

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultListLimit
	case n > MaxListLimit:
		return MaxListLimit
	}
	return n
}

// Store persists sessions, reservations, tenant settings and the upstream
// mirror of configurations.
type Store interface {
	// Reserve inserts s (status creating) if it fits b, under the
	// tenant's lock: the tenant's running sessions, the tenant's and the
	// configuration's sessions created since b.DayStart are counted in
	// the same transaction that inserts. A full budget is KindRateLimited
	// naming the limit.
	Reserve(ctx context.Context, s Session, b Budget) error
	// Release deletes a reservation (a session still creating) and
	// anything that refers to it.
	Release(ctx context.Context, tenantID, id string) error
	// Prepare records the upstream IDs and prompt hash of a reservation
	// (still creating); a session that is no longer creating is a
	// conflict. Transition then makes it active.
	Prepare(ctx context.Context, s Session) error
	// Get returns the tenant's session, or a not-found error.
	Get(ctx context.Context, tenantID, id string) (Session, error)
	// ByTokenHash returns the session whose MCP token hashes to hash.
	ByTokenHash(ctx context.Context, hash []byte) (Session, error)
	// List returns the tenant's sessions (not reservations), newest first.
	List(ctx context.Context, tenantID string, f Filter) ([]Session, error)
	// Transition moves a session's status (see Transition) and returns it.
	Transition(ctx context.Context, t Transition) (Session, error)
	// Due returns sessions of any tenant whose expires_at is at or before
	// now and that are not yet cleaned, oldest deadline first.
	Due(ctx context.Context, now time.Time, limit int) ([]Session, error)
	// StaleReservations returns reservations created before before.
	StaleReservations(ctx context.Context, before time.Time, limit int) ([]Session, error)
	// Running returns sessions of any tenant that are active or awaiting
	// approval, for re-attaching after a restart.
	Running(ctx context.Context, limit int) ([]Session, error)
	// MarkCleaned records that the session's upstream resources are gone.
	MarkCleaned(ctx context.Context, tenantID, id string, at time.Time) error
	// Settings returns the tenant's overrides (all nil when none are set).
	Settings(ctx context.Context, tenantID string) (Settings, error)
	// SaveSettings replaces the tenant's overrides.
	SaveSettings(ctx context.Context, s Settings) error
	// Counters counts the session's calls from its audit records
	// (Pending is left zero).
	Counters(ctx context.Context, tenantID, id string) (Counters, error)
	// Audit returns the session's audit records with seq after afterSeq,
	// oldest first, at most limit.
	Audit(ctx context.Context, tenantID, id string, afterSeq int64, limit int) ([]audit.Record, error)
	// Mirror returns the mirror of a configuration for an account, or a
	// not-found error.
	Mirror(ctx context.Context, agentID, account string) (Mirror, error)
	// SaveMirror inserts or replaces the mirror.
	SaveMirror(ctx context.Context, m Mirror) error
	// NoticeSent reports whether an approval outcome was already told to
	// the session; RecordNotice records that it was.
	NoticeSent(ctx context.Context, sessionID, actionID, status string) (bool, error)
	RecordNotice(ctx context.Context, sessionID, actionID, status string, at time.Time) error
}
