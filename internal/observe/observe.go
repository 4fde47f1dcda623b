package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
)

// Defaults for Service's zero fields.
const (
	// DefaultSSETimeout is how long a stream may stay silent (not even a
	// heartbeat) before the consumer drops it and reconnects.
	DefaultSSETimeout = 300 * time.Second
	// DefaultLeaseTTL is how long a lease lasts unless renewed; a dead
	// process's sessions are taken over this long after its last renewal.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultReconnectMin and DefaultReconnectMax bound the reconnect
	// backoff, which doubles per failed attempt (short: a reconnect
	// back-fills what it missed, and a long pause is a blind window).
	// A connection that was up for ReconnectMax and dropped is
	// reconnected at once.
	DefaultReconnectMin = 250 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	// DefaultHistorySlack is how far before its cursor a resumed consumer
	// back-fills, to catch events stamped out of order.
	DefaultHistorySlack = 5 * time.Second
	// DefaultInterruptWait is how long an interrupt waits for the stream
	// to show the session idle before it sends again or gives up.
	DefaultInterruptWait = 10 * time.Second
	// DefaultInterruptAttempts is how many times an interrupt is sent.
	DefaultInterruptAttempts = 3
	// DefaultMaxBatch caps the events handled in one transaction.
	DefaultMaxBatch = 512
	// DefaultDetachGrace is how long a consumer keeps reading after its
	// session ended (interrupted, expired): long enough to see the
	// session idle, which confirms the interrupt, and the in-flight tool
	// results.
	DefaultDetachGrace = 60 * time.Second
	// DefaultSideEffectTimeout bounds each audit write, upstream call and
	// notification made for an event.
	DefaultSideEffectTimeout = 15 * time.Second
)

// Log attribute keys.
const (
	logKeyTenant  = "tenant_id"
	logKeySession = "session_id"
	logKeyEvent   = "event_id"
	logKeyTool    = "tool"
	logKeyError   = "error"
	logKeyWebhook = "webhook_event"
	logKeyDelay   = "delay_ms"
	logKeyOutcome = "outcome"
	logKeyScore   = "score"
	logKeyThread  = "thread_id"
	logKeyAction  = "action_id"
)

// Webhook events this package emits.
const (
	EventAnomalyDetected    = "anomaly.detected"
	EventSessionInterrupted = "session.interrupted"
)

// ErrLeaseLost is returned by Store.Commit and Store.Finish when the
// caller no longer holds the session's lease.
var ErrLeaseLost = errors.New("observe: lease lost to another process")

// Upstream gives the Managed Agents client to use for a session (internal
// session builds it with the tenant's Anthropic key; each call releases
// the key once, so the consumer asks once per connection).
type Upstream interface {
	Client(ctx context.Context, tenantID, sessionID string) (*anthropic.Client, error)
}

// UpstreamFunc adapts a function to Upstream.
type UpstreamFunc func(ctx context.Context, tenantID, sessionID string) (*anthropic.Client, error)

// Client calls f.
func (f UpstreamFunc) Client(ctx context.Context, tenantID, sessionID string) (*anthropic.Client, error) {
	return f(ctx, tenantID, sessionID)
}

// Auditor appends to the audit trail; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// AuditReader finds records already in the trail (the audit store
// implements it): the governed record of a call to Vargate's own MCP
// server, and, when a consumer resumes after a crash, whether a tool
// use's record was written before it died.
type AuditReader interface {
	List(ctx context.Context, tenantID string, f audit.Filter) ([]audit.Record, error)
}

// Lifecycle moves a governed session through its statuses;
// *session.Service implements it. The consumer reports what the stream
// shows (a turn ended, the agent resumed, the session terminated) and
// stops when the session reaches a final status.
type Lifecycle interface {
	Get(ctx context.Context, tenantID, id string) (session.Session, error)
	TurnEnded(ctx context.Context, tenantID, id, stopReason string) (session.Session, error)
	Resumed(ctx context.Context, tenantID, id string) (session.Session, error)
	Fail(ctx context.Context, tenantID, id, reason string) (session.Session, error)
	// Interrupt marks the session interrupted (a KindConflict error when
	// it is not running), sends user.interrupt once and reports whether
	// Anthropic accepted it.
	Interrupt(ctx context.Context, tenantID, id, reason, actor string) (sess session.Session, sent bool, err error)
}

// Configs returns the agent configuration version a session pinned;
// *agent.Service implements it.
type Configs interface {
	GetVersion(ctx context.Context, tenantID, id string, version int) (agent.Config, error)
}

// Decider evaluates a tool call against the tenant's policy;
// *policy.Engine implements it.
type Decider interface {
	Decide(ctx context.Context, in *policy.Input) (policy.Decision, error)
}

// Approvals is the human approval queue; *approval.Service implements it.
type Approvals interface {
	Enqueue(ctx context.Context, req approval.Request) (approval.Action, error)
}

// Emitter writes webhook events to the durable outbox; nil-safe use only
// through Service.emit.
type Emitter interface {
	Emit(ctx context.Context, tenantID, event string, data any) error
}

// Service runs one event consumer per active observed session: it reads
// each session's stream, stores every event once, audits tool calls,
// scores them, interrupts sessions whose score crosses the threshold,
// answers confirmation requests by policy and moves the session through
// its lifecycle. Set the fields between New and Open.
type Service struct {
	Store    Store
	Upstream Upstream
	Audit    Auditor
	// AuditReader is optional: without it calls to Vargate's MCP server
	// are not linked, and a crash between an audit write and its mark may
	// duplicate that record on resume.
	AuditReader AuditReader
	// Lifecycle, Configs, Policy, Approvals and Webhooks are optional.
	// Without Lifecycle the consumer stops only when the upstream session
	// terminates and Interrupt is unavailable; without Configs Attach is;
	// without Policy every confirmation request is denied (fail closed);
	// without Approvals one that needs a human is denied.
	Lifecycle Lifecycle
	Configs   Configs
	Policy    Decider
	Approvals Approvals
	Webhooks  Emitter
	Logger    *slog.Logger
	Now       vargate.Clock

	// Owner names this process in leases (random when empty).
	Owner string
	// SSETimeout, LeaseTTL, ReconnectMin, ReconnectMax, HistorySlack,
	// InterruptWait, InterruptAttempts, MaxBatch, SideEffectTimeout: see
	// the Default constants; zero means the default.
	SSETimeout        time.Duration
	LeaseTTL          time.Duration
	ReconnectMin      time.Duration
	ReconnectMax      time.Duration
	HistorySlack      time.Duration
	InterruptWait     time.Duration
	InterruptAttempts int
	// Retention is how long the consumer state of an ended session (its
	// stored event identities and tool uses) is kept; zero keeps it
	// forever. The audit trail holds what the consumer recorded.
	Retention time.Duration
	// PruneInterval is how often Retention is applied
	// (DefaultPruneInterval if 0).
	PruneInterval     time.Duration
	MaxBatch          int
	SideEffectTimeout time.Duration
	DetachGrace       time.Duration
	// MaxSessions caps the sessions this process consumes at once (no
	// cap when zero); the rest are left to other processes.
	MaxSessions int

	stats stats

	mu        sync.Mutex
	opened    bool
	closed    bool
	life      context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	consumers map[string]*consumer // by session ID
	waiters   map[string][]chan struct{}
	deciding  map[string]bool // tool use IDs being decided
}

// Stats are counters of a Service's work since it was made.
type Stats struct {
	// Connections counts stream connections opened (the first and every
	// reconnect).
	Connections int64
	// Events counts events stored; Duplicates those dropped as seen.
	Events     int64
	Duplicates int64
	// Observed counts mcp_observed records written.
	Observed int64
	// Decisions counts confirmation requests answered or escalated.
	Decisions int64
	// Poison counts events dead-lettered: unreadable, or whose record
	// the trail rejected (see DecisionDeadLetter).
	Poison int64
	// Latency is the event-to-record latency of the events stored.
	Latency Latency
}

type stats struct {
	connections, events, duplicates, observed, decisions, poison atomic.Int64
	latency                                                      latency
}

// AnomalyScore returns the session's anomaly score as the policy input
// carries it: the decayed total of its observed calls over the risk
// level's interrupt threshold, capped at 1; 0 for a session not observed.
func (s *Service) AnomalyScore(ctx context.Context, tenantID, sessionID string) (float64, error) {
	o, err := s.Store.Get(ctx, tenantID, sessionID)
	switch {
	case vargate.IsKind(err, vargate.KindNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	level, err := anomaly.ParseRiskLevel(o.RiskLevel)
	if err != nil {
		level = anomaly.RiskStrict
	}
	return round(min(1, anomaly.Decayed(o.Score, o.ScoreAt, s.now())/anomaly.ThresholdFor(level))), nil
}

// Stats returns the service's counters.
func (s *Service) Stats() Stats {
	return Stats{
		Connections: s.stats.connections.Load(), Events: s.stats.events.Load(), Duplicates: s.stats.duplicates.Load(),
		Observed: s.stats.observed.Load(), Decisions: s.stats.decisions.Load(), Poison: s.stats.poison.Load(),
		Latency: s.stats.latency.snapshot(),
	}
}

// New returns a Service; set the optional fields, then Open.
func New(store Store, upstream Upstream, auditor Auditor, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		Store: store, Upstream: upstream, Audit: auditor, Logger: logger,
		Now: func() time.Time { return time.Now().UTC() },
	}
}

func (s *Service) sseTimeout() time.Duration {
	return vargate.OrDefault(s.SSETimeout, DefaultSSETimeout)
}
func (s *Service) leaseTTL() time.Duration { return vargate.OrDefault(s.LeaseTTL, DefaultLeaseTTL) }
func (s *Service) reconnectMin() time.Duration {
	return vargate.OrDefault(s.ReconnectMin, DefaultReconnectMin)
}
func (s *Service) reconnectMax() time.Duration {
	return vargate.OrDefault(s.ReconnectMax, DefaultReconnectMax)
}
func (s *Service) historySlack() time.Duration {
	return vargate.OrDefault(s.HistorySlack, DefaultHistorySlack)
}
func (s *Service) interruptWait() time.Duration {
	return vargate.OrDefault(s.InterruptWait, DefaultInterruptWait)
}
func (s *Service) interruptAttempts() int {
	return vargate.OrDefault(s.InterruptAttempts, DefaultInterruptAttempts)
}
func (s *Service) maxBatch() int { return vargate.OrDefault(s.MaxBatch, DefaultMaxBatch) }
func (s *Service) sideTimeout() time.Duration {
	return vargate.OrDefault(s.SideEffectTimeout, DefaultSideEffectTimeout)
}
func (s *Service) detachGrace() time.Duration {
	return vargate.OrDefault(s.DetachGrace, DefaultDetachGrace)
}
func (s *Service) now() time.Time { return s.Now().UTC() }

// sideCtx returns a context for a side effect that must outlive the
// consumer's or the request's context (audit writes, upstream calls):
// detached from cancellation, bounded by the side-effect timeout.
func (s *Service) sideCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.sideTimeout())
}

// Open resumes the consumers of active sessions whose lease is free and
// starts the lease loop, which renews this process's leases and takes
// over the sessions of processes that stopped renewing theirs.
func (s *Service) Open() error {
	if s.Store == nil || s.Upstream == nil || s.Audit == nil {
		return errors.New("observe: Store, Upstream and Audit are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return errors.New("observe: already open")
	}
	if s.Owner == "" {
		s.Owner = vargate.NewID("obs_", 8)
	}
	s.life, s.stop = context.WithCancel(context.Background())
	s.consumers = map[string]*consumer{}
	s.waiters = map[string][]chan struct{}{}
	s.deciding = map[string]bool{}
	s.opened = true
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.leaseLoop(s.life)
	}()
	go func() {
		defer s.wg.Done()
		s.pruneLoop(s.life)
	}()
	return nil
}

// DefaultPruneInterval is how often the state of sessions past Retention
// is deleted.
const DefaultPruneInterval = time.Hour

// pruneBatch bounds the sessions one pruning transaction deletes.
const pruneBatch = 100

// pruneLoop deletes the consumer state of sessions that ended more than
// Retention ago, at start and every PruneInterval.
func (s *Service) pruneLoop(ctx context.Context) {
	if s.Retention <= 0 {
		return
	}
	vargate.Every(ctx, vargate.OrDefault(s.PruneInterval, DefaultPruneInterval), func(ctx context.Context) {
		if _, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "prune observed sessions", slog.Any(logKeyError, err))
		}
	})
}

// Prune deletes the consumer state of the sessions whose consumer
// finished more than Retention ago (none when Retention is zero) and
// returns how many sessions it pruned.
func (s *Service) Prune(ctx context.Context) (int, error) {
	if s.Retention <= 0 {
		return 0, nil
	}
	before := s.now().Add(-s.Retention)
	total := 0
	for {
		n, err := s.Store.PruneDone(ctx, before, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// Close stops every consumer, releases this process's leases so that
// another process (or the next start) resumes the sessions at once, and
// waits for the consumers to return.
func (s *Service) Close() error {
	s.mu.Lock()
	if !s.opened || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stop()
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Observe registers a session for consumption and starts its consumer in
// this process unless another holds it. internal/session calls it once
// the upstream session exists.
func (s *Service) Observe(ctx context.Context, t Target) error {
	if t.TenantID == "" || t.SessionID == "" || t.UpstreamID == "" {
		return vargate.Invalid("session", "tenant, session and upstream session IDs are required")
	}
	if t.StartedAt.IsZero() {
		t.StartedAt = s.now()
	}
	// The session is registered with this process's lease when it can
	// take it, so that another process's lease loop does not take it in
	// between (the session was just created here).
	s.mu.Lock()
	defer s.mu.Unlock()
	take := s.opened && !s.closed && !s.full()
	owner, now := "", s.now()
	if take {
		owner = s.Owner
	}
	if err := s.Store.Register(ctx, t, owner, now, now.Add(s.leaseTTL())); err != nil {
		return fmt.Errorf("register observed session: %w", err)
	}
	if !take {
		return nil // registered: the lease loop of some process picks it up
	}
	sess, ok, err := s.Store.ClaimSession(ctx, t.SessionID, s.Owner, now, now.Add(s.leaseTTL()))
	if err != nil {
		return fmt.Errorf("claim observed session: %w", err)
	}
	if ok {
		s.startLocked(sess)
	}
	return nil
}

// Attach implements session.Observer: it registers the session with a
// snapshot of the configuration version it pinned and starts consuming
// it here unless another process holds it. Nothing sent to the session is
// missed even before the stream opens: every connection back-fills the
// history first.
func (s *Service) Attach(ctx context.Context, sess session.Session) error {
	if s.Configs == nil {
		return vargate.Errorf(vargate.KindUnavailable, "observe: no agent configurations to attach with")
	}
	cfg, err := s.Configs.GetVersion(ctx, sess.TenantID, sess.AgentID, sess.AgentVersion)
	if err != nil {
		return fmt.Errorf("attach observer: %w", err)
	}
	t := NewTarget(sess.ID, sess.AnthropicSessionID, session.MCPServerName, cfg, sess.CreatedAt)
	t.DelegationDepth = sess.DelegationDepth()
	return s.Observe(ctx, t)
}

// Detach implements session.Detacher: the session ended (interrupted,
// expired, failed). Its consumer, if it runs here, reads on until the
// stream shows the session stopped (or DetachGrace passes), then stops.
func (s *Service) Detach(sessionID string) {
	s.mu.Lock()
	c := s.consumers[sessionID]
	s.mu.Unlock()
	if c != nil {
		c.detach(s.detachGrace())
	}
}

// Observing reports whether this process is consuming the session now.
func (s *Service) Observing(sessionID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.consumers[sessionID]
	return ok
}

// full reports whether this process runs MaxSessions consumers; s.mu held.
func (s *Service) full() bool { return s.MaxSessions > 0 && len(s.consumers) >= s.MaxSessions }

// startLocked starts the consumer of a claimed session; s.mu held.
func (s *Service) startLocked(sess Session) {
	if _, ok := s.consumers[sess.SessionID]; ok || s.closed {
		return
	}
	c := newConsumer(s, sess)
	s.consumers[sess.SessionID] = c
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run(s.life)
		s.mu.Lock()
		delete(s.consumers, sess.SessionID)
		s.mu.Unlock()
	}()
}

// leaseLoop renews leases and claims free sessions every third of the
// lease TTL, until ctx ends; then it releases this process's leases.
func (s *Service) leaseLoop(ctx context.Context) {
	interval := s.leaseTTL() / 3
	s.claimFree(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.renew(ctx)
		s.claimFree(ctx)
	}
}

// renew extends the leases of running consumers; a consumer whose lease
// was taken over is stopped.
func (s *Service) renew(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.consumers))
	for id := range s.consumers {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	held, err := s.Store.Renew(ctx, s.Owner, ids, s.now().Add(s.leaseTTL()))
	if err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelWarn, "renew observe leases", slog.Any(logKeyError, err))
		return
	}
	keep := make(map[string]bool, len(held))
	for _, id := range held {
		keep[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.consumers {
		if !keep[id] {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "observe lease lost; stopping consumer", slog.String(logKeySession, id))
			c.stop()
		}
	}
}

// claimFree claims active sessions with a free or lapsed lease and
// starts their consumers.
func (s *Service) claimFree(ctx context.Context) {
	s.mu.Lock()
	limit := 100
	if s.MaxSessions > 0 {
		limit = s.MaxSessions - len(s.consumers)
	}
	s.mu.Unlock()
	if limit <= 0 {
		return
	}
	now := s.now()
	got, err := s.Store.Claim(ctx, s.Owner, now, now.Add(s.leaseTTL()), limit)
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "claim observed sessions", slog.Any(logKeyError, err))
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range got {
		s.startLocked(sess)
	}
}

// notify wakes whoever waits on the session's progress (interrupts
// waiting for the idle that confirms them).
func (s *Service) notify(sessionID string) {
	s.mu.Lock()
	ws := s.waiters[sessionID]
	delete(s.waiters, sessionID)
	s.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// waitChange returns a channel closed at the session's next commit in
// this process.
func (s *Service) waitChange(sessionID string) <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.waiters == nil {
		s.waiters = map[string][]chan struct{}{}
	}
	s.waiters[sessionID] = append(s.waiters[sessionID], ch)
	s.mu.Unlock()
	return ch
}

// emit sends a webhook event if webhooks are configured; a failure is
// logged, never returned: the outbox write is best effort here.
func (s *Service) emit(ctx context.Context, tenantID, event string, data any) {
	if s.Webhooks == nil {
		return
	}
	ctx, cancel := s.sideCtx(ctx)
	defer cancel()
	if err := s.Webhooks.Emit(ctx, tenantID, event, data); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "emit webhook", slog.String(logKeyTenant, tenantID),
			slog.String(logKeyWebhook, event), slog.Any(logKeyError, err))
	}
}
