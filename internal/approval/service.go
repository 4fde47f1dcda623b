package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// Defaults for Service's zero fields.
const (
	// DefaultTTL is how long an action waits for a human before it expires.
	DefaultTTL = 24 * time.Hour
	// DefaultExecuteTimeout bounds one call of the Executor.
	DefaultExecuteTimeout = 2 * time.Minute
	// DefaultLeaseSlack is added to the execute timeout to form the lease:
	// an action still executing this long after it started is presumed
	// orphaned by a dead gateway and marked failed.
	DefaultLeaseSlack = 30 * time.Second
	// DefaultSweepInterval is how often the sweeper runs.
	DefaultSweepInterval = 15 * time.Second
	// DefaultSettleAfter is how old an event with pending side effects
	// must be before the sweeper (rather than the request that made it)
	// completes them.
	DefaultSettleAfter = 30 * time.Second
	// DefaultResumeAfter is how long an approved action may wait to start
	// before the sweeper starts it (its approver's gateway died between
	// the approval and the start).
	DefaultResumeAfter = time.Minute
	// DefaultSideEffectTimeout bounds each audit write and notification.
	DefaultSideEffectTimeout = 10 * time.Second
	// MaxNoteBytes bounds an approver's reason.
	MaxNoteBytes = 2000
)

// Log attribute keys.
const (
	logKeyTenant = "tenant_id"
	logKeyAction = "action_id"
	logKeyEvent  = "event_id"
	logKeyStatus = "status"
	logKeyError  = "error"
	logKeyDigest = "result_digest"
)

// Service runs the approval queue. Set the exported fields between New and
// Open; Open starts the sweeper, Close stops it and waits for executions
// in flight.
type Service struct {
	Store Store
	// Executor runs approved actions. Without one, approving answers
	// unavailable and approved actions wait (listing, reading, rejecting
	// and expiry still work).
	Executor Executor
	// Auditor receives one record per state change. It must be set in a
	// gateway: an action whose intent to execute cannot be audited is not
	// executed. Nil skips auditing (tests only).
	Auditor Auditor
	// Emitter, when set, receives the webhook events.
	Emitter Emitter
	// Notifier, when set, is told of settled actions of sessions.
	Notifier SessionNotifier
	// Sealer seals sensitive arguments and results. Without one, a
	// sensitive request is refused (fail closed).
	Sealer Sealer
	Logger *slog.Logger
	Now    vargate.Clock

	// TTL is how long an action waits for a decision (DefaultTTL if 0
	// or less).
	TTL time.Duration
	// ExecuteTimeout bounds one execution (DefaultExecuteTimeout if 0 or
	// less).
	ExecuteTimeout time.Duration
	// LeaseSlack, SweepInterval, SettleAfter, ResumeAfter and
	// SideEffectTimeout: see the Default constants, which 0 means. A
	// negative SweepInterval disables the background sweeper (Sweep can
	// still be called); the others take their default when negative.
	LeaseSlack        time.Duration
	SweepInterval     time.Duration
	SettleAfter       time.Duration
	ResumeAfter       time.Duration
	SideEffectTimeout time.Duration
	// Runner names this process in the executing lease (random if empty).
	Runner string
	// SettleLater leaves the side effects of this service's moves (audit
	// record, webhook, session message) to a gateway's sweeper, which
	// finds them unsettled on the event rows: for a process without the
	// audit log and the webhook outbox, such as the CLI revoking a key.
	SettleLater bool

	mu      sync.Mutex
	opened  bool
	closed  bool
	stop    context.CancelFunc
	life    context.Context
	wg      sync.WaitGroup
	sweepMu sync.Mutex
}

// New returns a Service over store that runs approved actions through exec.
func New(store Store, exec Executor, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		Store: store, Executor: exec, Logger: logger,
		Now: func() time.Time { return time.Now().UTC() },
	}
}

func (s *Service) ttl() time.Duration { return vargate.OrDefault(s.TTL, DefaultTTL) }
func (s *Service) executeTimeout() time.Duration {
	return vargate.OrDefault(s.ExecuteTimeout, DefaultExecuteTimeout)
}
func (s *Service) leaseSlack() time.Duration {
	return vargate.OrDefault(s.LeaseSlack, DefaultLeaseSlack)
}
func (s *Service) settleAfter() time.Duration {
	return vargate.OrDefault(s.SettleAfter, DefaultSettleAfter)
}
func (s *Service) resumeAfter() time.Duration {
	return vargate.OrDefault(s.ResumeAfter, DefaultResumeAfter)
}
func (s *Service) sideTimeout() time.Duration {
	return vargate.OrDefault(s.SideEffectTimeout, DefaultSideEffectTimeout)
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// Open starts the sweeper, which first recovers what a previous run left
// behind: actions executing when it died are marked failed, approved
// actions that never started are started, and side effects that were not
// completed are completed.
func (s *Service) Open() error {
	if s.Store == nil {
		return errors.New("approval: Store is required")
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = func() time.Time { return time.Now().UTC() }
	}
	if s.Runner == "" {
		s.Runner = vargate.NewID("run_", 8)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return errors.New("approval: already open")
	}
	s.opened = true
	s.life, s.stop = context.WithCancel(context.Background())
	if s.SweepInterval >= 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			vargate.Every(s.life, vargate.OrDefault(s.SweepInterval, DefaultSweepInterval), s.sweepOnce)
		}()
	}
	return nil
}

// Close stops the sweeper and waits for executions and notifications in
// flight (each is bounded by its timeout).
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

// sweepOnce runs one sweep of the background sweeper and logs its error
// (unless the service is closing).
func (s *Service) sweepOnce(ctx context.Context) {
	if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "approval sweep failed", slog.String(logKeyError, err.Error()))
	}
}

// Digest returns the digest form used for results: audit.BytesDigest.
func Digest(b []byte) string { return audit.BytesDigest(b) }

func newEventID() string { return vargate.NewID("evt_", 16) }

func argsPurpose(id string) string   { return "approval/args/" + id }
func resultPurpose(id string) string { return "approval/result/" + id }

// Enqueue queues req as a pending action, emits action.pending_approval,
// and returns the action. govern calls it when policy asks for a human.
func (s *Service) Enqueue(ctx context.Context, req Request) (Action, error) {
	if req.TenantID == "" {
		return Action{}, vargate.Invalid("tenant_id", "is required")
	}
	if req.Tool == "" {
		return Action{}, vargate.Invalid("tool", "is required")
	}
	var obj map[string]json.RawMessage
	if len(req.Args) == 0 || json.Unmarshal(req.Args, &obj) != nil {
		return Action{}, vargate.Invalid("args", "must be a JSON object")
	}
	if len(req.ArgsRedacted) > 0 && !json.Valid(req.ArgsRedacted) {
		return Action{}, vargate.Invalid("args_redacted", "must be JSON")
	}
	id := req.ID
	if id == "" {
		id = uuid.NewString()
	}
	digest := req.ArgsDigest
	if digest == "" {
		digest = audit.Digest(req.Args)
	}
	now := s.now()
	ttl := req.TTL
	if ttl <= 0 {
		ttl = s.ttl()
	}
	rec := Record{
		Action: Action{
			ID: id, TenantID: req.TenantID, SessionID: req.SessionID, AgentID: req.AgentID, KeyID: req.KeyID, Tool: req.Tool,
			ArgsRedacted: req.ArgsRedacted, ArgsDigest: digest, Sensitive: req.Sensitive,
			PolicyVersion: req.PolicyVersion, DecisionID: req.DecisionID, Reasons: req.Reasons,
			Status: StatusPending, CreatedAt: now, ExpiresAt: now.Add(ttl),
		},
		Version: 1,
	}
	if req.Sensitive {
		if s.Sealer == nil {
			return Action{}, vargate.Errorf(vargate.KindUnavailable, "sensitive arguments cannot be queued: no sealing key is configured")
		}
		sealed, err := s.Sealer.Seal(ctx, req.TenantID, argsPurpose(id), req.Args)
		if err != nil {
			return Action{}, fmt.Errorf("seal arguments: %w", err)
		}
		rec.ArgsStored, rec.ArgsSealed = sealed, true
	} else {
		rec.ArgsStored = append([]byte(nil), req.Args...)
	}
	// govern's decision record is the queued action's audit record, so the
	// pending event needs none of its own.
	ev := Event{ID: newEventID(), ActionID: id, TenantID: req.TenantID, Seq: 1, At: now, To: StatusPending,
		Actor: ActorSystem, AuditedAt: &now}
	if err := s.Store.Create(ctx, rec, ev); err != nil {
		return Action{}, fmt.Errorf("queue action: %w", err)
	}
	s.settle(ctx, rec, ev)
	return rec.Action, nil
}

// Get returns the tenant's action with its arguments, result and history.
// A pending action past its expiry is expired first.
func (s *Service) Get(ctx context.Context, tenantID, id string) (Action, error) {
	rec, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return Action{}, err
	}
	rec = s.expireIfDue(ctx, rec)
	return s.detail(ctx, rec)
}

// StatusFor returns an action as the principal may see it: agents only see
// their own (same agent, and same session for a session token); a
// foreign action is not found. It is what vargate_approval_status returns.
func (s *Service) StatusFor(ctx context.Context, p vargate.Principal, id string) (Action, error) {
	rec, err := s.Store.Get(ctx, p.TenantID, id)
	if err != nil {
		return Action{}, err
	}
	if p.Role == vargate.RoleAgent {
		if (p.AgentID != "" && rec.AgentID != p.AgentID) || (p.SessionID != "" && rec.SessionID != p.SessionID) {
			return Action{}, vargate.NotFound("action")
		}
	}
	rec = s.expireIfDue(ctx, rec)
	return s.detail(ctx, rec)
}

// detail opens the record's arguments and result and loads its history.
func (s *Service) detail(ctx context.Context, rec Record) (Action, error) {
	a := rec.Action
	args, err := s.openArgs(ctx, rec)
	if err != nil {
		return Action{}, err
	}
	a.Args = args
	if a.Result, err = s.openResult(ctx, rec); err != nil {
		return Action{}, err
	}
	if a.History, err = s.Store.Events(ctx, rec.TenantID, rec.ID); err != nil {
		return Action{}, err
	}
	return a, nil
}

func (s *Service) openArgs(ctx context.Context, rec Record) (json.RawMessage, error) {
	if !rec.ArgsSealed {
		return json.RawMessage(rec.ArgsStored), nil
	}
	if s.Sealer == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "sealed arguments cannot be opened: no sealing key is configured")
	}
	b, err := s.Sealer.Open(ctx, rec.TenantID, argsPurpose(rec.ID), rec.ArgsStored)
	if err != nil {
		return nil, fmt.Errorf("open arguments of %s: %w", rec.ID, err)
	}
	return b, nil
}

func (s *Service) openResult(ctx context.Context, rec Record) (json.RawMessage, error) {
	if len(rec.ResultStored) == 0 {
		return nil, nil
	}
	if !rec.ResultSealed {
		return json.RawMessage(rec.ResultStored), nil
	}
	if s.Sealer == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "sealed result cannot be opened: no sealing key is configured")
	}
	b, err := s.Sealer.Open(ctx, rec.TenantID, resultPurpose(rec.ID), rec.ResultStored)
	if err != nil {
		return nil, fmt.Errorf("open result of %s: %w", rec.ID, err)
	}
	return b, nil
}

// List returns the tenant's actions matching f, newest first, without
// arguments (only their redacted form), results or history. Pending
// actions past their expiry are expired on the way.
func (s *Service) List(ctx context.Context, tenantID string, f Filter) ([]Action, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, vargate.Invalid("status", "unknown status %q", f.Status)
	}
	recs, err := s.Store.List(ctx, tenantID, f)
	if err != nil {
		return nil, err
	}
	out := make([]Action, 0, len(recs))
	for _, rec := range recs {
		rec = s.expireIfDue(ctx, rec)
		if f.Status != "" && rec.Status != f.Status {
			continue
		}
		out = append(out, rec.Action)
	}
	return out, nil
}

// Counts returns the number of the tenant's actions in each status.
func (s *Service) Counts(ctx context.Context, tenantID string) (map[Status]int, error) {
	return s.Store.Counts(ctx, tenantID)
}

// PendingActions returns the number of the session's actions not
// settled yet: waiting for a human (and not past their expiry), approved
// or executing. It implements session.Pending.
func (s *Service) PendingActions(ctx context.Context, tenantID, sessionID string) (int, error) {
	return s.Store.CountUnsettled(ctx, tenantID, sessionID, s.now())
}

// checkNote validates an approver's reason.
func checkNote(note string) error {
	if len(note) > MaxNoteBytes {
		return vargate.Invalid("reason", "longer than %d bytes", MaxNoteBytes)
	}
	return nil
}

// Approve approves a pending action for a human with a deciding role and
// runs it, returning the action as it ended: executed (with its result),
// or failed (with why — for example, the active policy now denies it).
// Of concurrent decisions on one action exactly one wins; the others get
// a conflict. Execution is detached from ctx, so an approver who
// disconnects does not cut it short.
func (s *Service) Approve(ctx context.Context, p vargate.Principal, id, note string) (Action, error) {
	if s.Executor == nil && p.Role.CanDecide() {
		return Action{}, vargate.Errorf(vargate.KindUnavailable, "approved actions cannot run: no tool executor is configured")
	}
	rec, err := s.decide(ctx, p, id, note, StatusApproved)
	if err != nil {
		return Action{}, err
	}
	rec = s.run(context.WithoutCancel(ctx), rec)
	return s.detail(ctx, rec)
}

// Reject rejects a pending action for a human with a deciding role; the
// reason reaches the agent.
func (s *Service) Reject(ctx context.Context, p vargate.Principal, id, reason string) (Action, error) {
	rec, err := s.decide(ctx, p, id, reason, StatusRejected)
	if err != nil {
		return Action{}, err
	}
	return s.detail(ctx, rec)
}

func (s *Service) decide(ctx context.Context, p vargate.Principal, id, note string, to Status) (Record, error) {
	if !p.Role.CanDecide() {
		return Record{}, vargate.Errorf(vargate.KindForbidden, "only the admin and approver roles may decide on actions")
	}
	if err := checkNote(note); err != nil {
		return Record{}, err
	}
	now := s.now()
	rec, ev, err := s.Store.Transition(ctx, Transition{
		TenantID: p.TenantID, ID: id, From: []Status{StatusPending}, To: to, At: now, Unexpired: true,
		Event:     Event{ID: newEventID(), Actor: p.KeyID, Note: note},
		DecidedBy: p.KeyID, Note: note,
	})
	if vargate.IsKind(err, vargate.KindConflict) {
		// Lost the race, or the action expired: report its current state.
		cur, gerr := s.Store.Get(ctx, p.TenantID, id)
		if gerr != nil {
			return Record{}, gerr
		}
		cur = s.expireIfDue(ctx, cur)
		if cur.Status == StatusCancelled && cur.Failure != nil {
			return Record{}, vargate.Errorf(vargate.KindConflict, "action %s was cancelled and can no longer be decided: %s", id, cur.Failure.Message)
		}
		return Record{}, vargate.Errorf(vargate.KindConflict, "action %s is %s, not pending", id, cur.Status)
	}
	if err != nil {
		return Record{}, err
	}
	s.settle(ctx, rec, ev)
	return rec, nil
}

// expireIfDue expires rec if it is pending past its expiry and returns
// the record as it now stands.
func (s *Service) expireIfDue(ctx context.Context, rec Record) Record {
	if rec.Status != StatusPending || s.now().Before(rec.ExpiresAt) {
		return rec
	}
	out, err := s.expire(ctx, rec)
	if err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelWarn, "could not expire action", slog.String(logKeyAction, rec.ID),
			slog.String(logKeyError, err.Error()))
		return rec
	}
	return out
}

// expire moves a pending action past its expiry to expired.
func (s *Service) expire(ctx context.Context, rec Record) (Record, error) {
	out, ev, err := s.Store.Transition(ctx, Transition{
		TenantID: rec.TenantID, ID: rec.ID, From: []Status{StatusPending}, To: StatusExpired, At: s.now(),
		Event: Event{ID: newEventID(), Actor: ActorSystem, Note: "no decision before " + rec.ExpiresAt.Format(time.RFC3339)},
	})
	if vargate.IsKind(err, vargate.KindConflict) {
		return s.Store.Get(ctx, rec.TenantID, rec.ID) // decided or expired meanwhile
	}
	if err != nil {
		return Record{}, err
	}
	s.settle(ctx, out, ev)
	return out, nil
}
