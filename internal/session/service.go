package session

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
)

// Defaults for Service's fields.
const (
	DefaultMaxConcurrent = 10
	// DefaultCreateTimeout bounds the upstream part of a creation; a
	// reservation older than twice this is abandoned by the sweeper.
	DefaultCreateTimeout = 90 * time.Second
	// DefaultSweepInterval is how often Run looks for expired sessions
	// and abandoned reservations.
	DefaultSweepInterval = 5 * time.Second
)

// Log attribute keys.
const (
	logKeySession = "session_id"
	logKeyTenant  = "tenant_id"
	logKeyStep    = "step"
	logKeyStatus  = "status"
	logKeyError   = "error"
	logKeyEvent   = "event_type"
	logKeyCount   = "count"
)

// Policy decides tool calls; *policy.Engine implements it.
type Policy interface {
	Decide(ctx context.Context, in *policy.Input) (policy.Decision, error)
}

// Pending counts a session's actions that are not settled yet (waiting
// for a human, approved, or executing). approval.Service implements it.
type Pending interface {
	PendingActions(ctx context.Context, tenantID, sessionID string) (int, error)
}

// Actions settles the actions of a session that ended: those still
// waiting for a human (or approved but not started) are cancelled with
// the reason, so that nothing queued runs after the stop. cmd adapts the
// approval queue.
type Actions interface {
	SessionEnded(ctx context.Context, tenantID, sessionID, reason string) error
}

// Auditor appends to the tenant's audit trail; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// Emitter writes webhook events (session.completed, session.interrupted,
// session.expired) to the durable outbox; webhook.Service implements it.
type Emitter interface {
	Emit(ctx context.Context, tenantID, event string, data any) error
}

// Observer follows a session's Anthropic event stream and drives its
// lifecycle through the Service's TurnEnded, Resumed and Fail. Attach
// returns once the stream is open, so that nothing sent to the session
// afterwards is missed (the stream has no replay); it keeps following in
// the background. Attaching a session that is already followed is a
// no-op. internal/observe provides it; without one the Service refuses to
// create or message sessions (nothing an agent does may go unrecorded).
type Observer interface {
	Attach(ctx context.Context, s Session) error
}

// Detacher is implemented by observers that can stop following a session;
// the Service calls it when a session ends.
type Detacher interface {
	Detach(sessionID string)
}

// Service creates and governs sessions. Set the exported fields (New fills
// the defaults), then call Run in the background.
type Service struct {
	Store    Store
	Agents   *agent.Service
	Upstream *Upstream
	Audit    Auditor
	// Policy, when set, checks each configuration's tools against the
	// tenant's policy before a session is created.
	Policy Policy
	// Pending counts unsettled approvals; nil counts none.
	Pending Pending
	// Actions cancels the waiting actions of sessions that end; nil
	// leaves them queued.
	Actions Actions
	// Observer follows event streams (internal/observe); required.
	Observer Observer
	// Events receives lifecycle webhooks; nil sends none.
	Events Emitter
	Logger *slog.Logger
	Now    vargate.Clock
	// MCPServerURL is the gateway's MCP endpoint as agents reach it; the
	// vault credential of every session is bound to exactly this URL.
	MCPServerURL string
	// MaxConcurrent bounds each tenant's running sessions unless the
	// tenant overrides it (DEFAULT_MAX_CONCURRENT_SESSIONS).
	MaxConcurrent int
	// MaxDailyTenant bounds the sessions a tenant creates per UTC day
	// unless the tenant overrides it; 0 means no bound.
	MaxDailyTenant int
	CreateTimeout  time.Duration
	SweepInterval  time.Duration

	mirrorLocks keyedMutex
}

// New returns a Service with defaults filled in.
func New(store Store, agents *agent.Service, upstream *Upstream, log Auditor, mcpURL string) *Service {
	return &Service{
		Store: store, Agents: agents, Upstream: upstream, Audit: log, MCPServerURL: mcpURL,
		Logger:        slog.New(slog.DiscardHandler),
		Now:           func() time.Time { return time.Now().UTC() },
		MaxConcurrent: DefaultMaxConcurrent,
		CreateTimeout: DefaultCreateTimeout,
		SweepInterval: DefaultSweepInterval,
	}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// observer returns the configured observer; without one every Attach
// fails, so no session runs unobserved.
func (s *Service) observer() Observer {
	if s.Observer == nil {
		return noObserver{}
	}
	return s.Observer
}

// noObserver stands in for a missing Observer and fails closed.
type noObserver struct{}

func (noObserver) Attach(context.Context, Session) error {
	return vargate.Errorf(vargate.KindUnavailable, "no event consumer is configured")
}

func (s *Service) detach(id string) {
	if d, ok := s.observer().(Detacher); ok {
		d.Detach(id)
	}
}

// Close releases the Service. It holds nothing that needs closing (the
// Observer is closed by whoever made it; Run ends with its context) and
// returns nil.
func (s *Service) Close() error {
	return nil
}

// Get returns the tenant's session.
func (s *Service) Get(ctx context.Context, tenantID, id string) (Session, error) {
	sess, err := s.Store.Get(ctx, tenantID, id)
	if err == nil && sess.Status == StatusCreating {
		return Session{}, vargate.NotFound("session " + id)
	}
	return sess, err
}

// List returns the tenant's sessions, newest first.
func (s *Service) List(ctx context.Context, tenantID string, f Filter) ([]Session, error) {
	if f.Status != "" && (!f.Status.Valid() || f.Status == StatusCreating) {
		return nil, vargate.Invalid("status", "unknown status %q", f.Status)
	}
	return s.Store.List(ctx, tenantID, f)
}

// Status returns the session with its counters.
func (s *Service) Status(ctx context.Context, tenantID, id string) (Session, Counters, error) {
	sess, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return Session{}, Counters{}, err
	}
	c, err := s.Store.Counters(ctx, tenantID, id)
	if err != nil {
		return Session{}, Counters{}, err
	}
	if c.Pending, err = s.pending(ctx, tenantID, id); err != nil {
		return Session{}, Counters{}, err
	}
	return sess, c, nil
}

func (s *Service) pending(ctx context.Context, tenantID, id string) (int, error) {
	if s.Pending == nil {
		return 0, nil
	}
	return s.Pending.PendingActions(ctx, tenantID, id)
}

// AuditTrail returns the session's audit records after afterSeq, oldest first.
func (s *Service) AuditTrail(ctx context.Context, tenantID, id string, afterSeq int64, limit int) ([]audit.Record, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return nil, err
	}
	return s.Store.Audit(ctx, tenantID, id, afterSeq, clampLimit(limit))
}

// Settings returns the tenant's overrides.
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	return s.Store.Settings(ctx, tenantID)
}

// SaveSettings validates and stores the tenant's overrides, and audits the
// change.
func (s *Service) SaveSettings(ctx context.Context, st Settings, actor string) (Settings, error) {
	if st.GovernanceTemplate != nil {
		if err := ValidateTemplate(*st.GovernanceTemplate); err != nil {
			return Settings{}, err
		}
	}
	if st.MaxConcurrent != nil && (*st.MaxConcurrent < 1 || *st.MaxConcurrent > 100000) {
		return Settings{}, vargate.Invalid("max_concurrent_sessions", "must be from 1 to 100000")
	}
	if st.MaxDaily != nil && (*st.MaxDaily < 1 || *st.MaxDaily > 10000000) {
		return Settings{}, vargate.Invalid("max_daily_sessions", "must be from 1 to 10000000")
	}
	st.UpdatedAt = s.now()
	if err := s.Store.SaveSettings(ctx, st); err != nil {
		return Settings{}, err
	}
	detail := map[string]any{"event": "session_settings.updated", "governance_prompt_template": st.GovernanceTemplate,
		"max_concurrent_sessions": st.MaxConcurrent, "max_daily_sessions": st.MaxDaily}
	audit.AddActorName(ctx, actor, detail)
	if err := s.audit(ctx, audit.Record{TenantID: st.TenantID, Source: audit.SourceControlPlane, Decision: "session_settings.updated", Actor: actor}, detail); err != nil {
		return st, vargate.Wrap(vargate.KindUnavailable, err, "settings saved, but their audit record could not be written")
	}
	return st, nil
}

// audit appends rec with detail as JSON. It outlives the caller's
// context: a change that happened must be recorded even if the client
// went away.
func (s *Service) audit(ctx context.Context, rec audit.Record, detail any) error {
	if s.Audit == nil {
		return nil
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		rec.Detail = b
	}
	if rec.Time.IsZero() {
		rec.Time = s.now()
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := s.Audit.Append(actx, rec)
	return err
}

// emit sends a lifecycle webhook; a failure is logged, not returned: the
// lifecycle change already happened and is audited.
func (s *Service) emit(ctx context.Context, sess Session, event string) {
	if s.Events == nil {
		return
	}
	data := map[string]any{
		"session_id": sess.ID, "agent_id": sess.AgentID, "status": sess.Status,
		"stop_reason": sess.StopReason, "end_reason": sess.EndReason, "anthropic_session_id": sess.AnthropicSessionID,
	}
	if err := s.Events.Emit(context.WithoutCancel(ctx), sess.TenantID, event, data); err != nil {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "session webhook not written",
			slog.String(logKeySession, sess.ID), slog.String(logKeyEvent, event), slog.String(logKeyError, err.Error()))
	}
}

// keyedMutex serialises work per key.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
