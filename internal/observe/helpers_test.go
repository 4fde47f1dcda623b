package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/testwait"
)

const (
	tenantID = "tenant-a"
	// waitTimeout bounds every wait so that a broken consumer fails the
	// test instead of hanging it; it is far above what any step needs.
	waitTimeout = 30 * time.Second
)

// fixture is a simulator, a migrated SQLite database with a tenant, an
// audit log, the base policy, an approval queue and fakes for the session
// lifecycle and webhooks.
type fixture struct {
	t         *testing.T
	sim       *sim.Server
	simURL    string
	client    anthropic.Client
	db        *sqlstore.DB
	store     *sqlstore.ObserveStore
	audit     *audit.Log
	engine    *policy.Engine
	approvals *approval.Service
	life      *fakeLifecycle
	hooks     *fakeEmitter
	exec      *lateExecutor
}

// lateExecutor routes the approval queue's execution and settlement of
// escalated confirmations to the consumer service made last (cmd routes
// them the same way, by Owns).
type lateExecutor struct {
	s atomic.Pointer[observe.Service]
}

func (e *lateExecutor) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	return e.s.Load().ExecuteApproved(ctx, a)
}

func (e *lateExecutor) ActionSettled(ctx context.Context, a approval.Action) error {
	return e.s.Load().ActionSettled(ctx, a)
}

func newFixture(t *testing.T, opts sim.Options) *fixture {
	t.Helper()
	return newFixtureOn(t, opts, sqlstore.SQLite)
}

// newFixtureOn is newFixture over a database of dialect d.
func newFixtureOn(t *testing.T, opts sim.Options, d sqlstore.Dialect) *fixture {
	t.Helper()
	if opts.StepDelay == 0 {
		opts.StepDelay = time.Millisecond
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 0.01
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	db := storetest.Open(t, d)
	if err := sqlstore.NewAuthStore(db).CreateTenant(t.Context(), auth.Tenant{ID: tenantID, Name: "a", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(sqlstore.NewAuditStore(db), signer)
	log.CheckpointInterval = -1
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	engine, err := policy.NewEngine(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(ts.URL)
	f := &fixture{
		t: t, sim: s, simURL: ts.URL, client: client, db: db, store: sqlstore.NewObserveStore(db), audit: log, engine: engine,
		life: &fakeLifecycle{client: client, sessions: map[string]*fakeSession{}}, hooks: &fakeEmitter{}, exec: &lateExecutor{},
	}
	f.approvals = approval.New(sqlstore.NewApprovalStore(db), f.exec, nil)
	f.approvals.Notifier = f.exec
	f.approvals.Auditor = log
	f.approvals.SweepInterval = -1
	if err := f.approvals.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.approvals.Close() })
	return f
}

func newClient(url string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("sk-ant-test"), option.WithMaxRetries(0))
}

// newService returns an open consumer service named owner, wired to the
// fixture, closed at the end of the test; mod adjusts it before Open.
func (f *fixture) newService(owner string, mod func(*observe.Service)) *observe.Service {
	f.t.Helper()
	client := f.client
	s := observe.New(f.store, observe.UpstreamFunc(func(context.Context, string, string) (*anthropic.Client, error) {
		return &client, nil
	}), f.audit, nil)
	s.AuditReader = sqlstore.NewAuditStore(f.db)
	s.Lifecycle = f.life
	s.Policy = f.engine
	s.Approvals = f.approvals
	s.Webhooks = f.hooks
	s.Owner = owner
	s.ReconnectMin = 20 * time.Millisecond
	s.ReconnectMax = 200 * time.Millisecond
	s.LeaseTTL = 3 * time.Second
	s.InterruptWait = 5 * time.Second
	s.DetachGrace = 5 * time.Second
	if mod != nil {
		mod(s)
	}
	f.exec.s.Store(s)
	if err := s.Open(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

// agentSpec describes the upstream agent and its governance.
type agentSpec struct {
	scenario        string
	governed        []string // built-in tools with always_ask
	requireApproval []string
	riskLevel       string
}

// startSession creates an upstream agent and session for spec and
// returns the observe target (not yet observed) of the governed session.
func (f *fixture) startSession(spec agentSpec) observe.Target {
	f.t.Helper()
	ctx := f.t.Context()
	var configs []map[string]any
	for _, name := range spec.governed {
		configs = append(configs, map[string]any{"name": name, "permission_policy": map[string]string{"type": "always_ask"}})
	}
	raw, _ := json.Marshal(map[string]any{"type": "agent_toolset_20260401", "configs": nonNil(configs)})
	toolset := param.Override[anthropic.BetaManagedAgentsAgentToolset20260401Params](json.RawMessage(raw))
	ag, err := f.client.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name: "agent", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		Tools: []anthropic.BetaAgentNewParamsToolUnion{{OfAgentToolset20260401: &toolset}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	env, err := f.client.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: vargate.NewID("env-", 6)})
	if err != nil {
		f.t.Fatal(err)
	}
	up, err := f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)},
		EnvironmentID: env.ID, Metadata: map[string]string{sim.MetadataScenarioKey: spec.scenario},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	t := observe.Target{
		TenantID: tenantID, SessionID: vargate.NewID("vs-", 8), UpstreamID: up.ID, AgentID: "agent-1", AgentVersion: 1,
		RiskLevel: spec.riskLevel, PIIDetection: true, GovernedBuiltinTools: spec.governed,
		RequireHumanApproval: spec.requireApproval, MaxDelegationDepth: 1, MCPServerName: session.MCPServerName, StartedAt: time.Now().UTC(),
	}
	f.life.add(t)
	return t
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// send sends a user message to the upstream session.
func (f *fixture) send(upstreamID, text string) {
	f.t.Helper()
	_, err := f.client.Beta.Sessions.Events.Send(f.t.Context(), upstreamID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
			Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}}},
		}}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// records returns the session's audit records of source src, oldest first.
func (f *fixture) records(sessionID string, src audit.Source) []audit.Record {
	f.t.Helper()
	recs, err := sqlstore.NewAuditStore(f.db).List(f.t.Context(), tenantID, audit.Filter{SessionID: sessionID, Source: src, Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(recs)
	return recs
}

// storedEvents returns the IDs of the session's stored events in seq
// order, and how many rows each ID has.
func (f *fixture) storedEvents(sessionID string) []string {
	f.t.Helper()
	rows, err := f.db.QueryContext(f.t.Context(), `SELECT event_id FROM observe_events WHERE session_id = ? ORDER BY seq`, sessionID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// simEvents returns the upstream session's events.
func (f *fixture) simEvents(upstreamID string) []sim.Event {
	f.t.Helper()
	evs, err := f.sim.Events(upstreamID)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func ofType(evs []sim.Event, typ string) []sim.Event {
	var out []sim.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds or the wait times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, waitTimeout, what, cond)
}

// waitDone waits until the consumer of the session stored its end.
func (f *fixture) waitDone(sessionID string) observe.Session {
	f.t.Helper()
	var s observe.Session
	waitFor(f.t, "the consumer to finish "+sessionID, func() bool {
		var err error
		s, err = f.store.Get(f.t.Context(), tenantID, sessionID)
		return err == nil && s.State == observe.StateDone
	})
	return s
}

// waitTurnEnded waits until the consumer reported n turn ends to the
// lifecycle (the events before each are stored and audited by then).
func (f *fixture) waitTurnEnded(sessionID string, n int) {
	f.t.Helper()
	waitFor(f.t, "the turn to end", func() bool { return len(f.life.snapshot(sessionID).stops) >= n })
}

// fakeSession is a governed session as the fake lifecycle knows it.
type fakeSession struct {
	target  observe.Target
	status  session.Status
	endedAt *time.Time
	stops   []string
	actors  []string
	reasons []string
}

// fakeLifecycle stands for internal/session: statuses, TurnEnded (no
// pending count: completed), Fail, and Interrupt, which sends
// user.interrupt like the real one.
type fakeLifecycle struct {
	mu sync.Mutex
	// hold, when set, keeps Interrupt between marking the session
	// interrupted and sending user.interrupt until it is closed.
	hold     chan struct{}
	client   anthropic.Client
	sessions map[string]*fakeSession
}

func (l *fakeLifecycle) add(t observe.Target) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions[t.SessionID] = &fakeSession{target: t, status: session.StatusActive}
}

func (l *fakeLifecycle) snapshot(id string) fakeSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := *l.sessions[id]
	s.stops, s.actors, s.reasons = slices.Clone(s.stops), slices.Clone(s.actors), slices.Clone(s.reasons)
	return s
}

func (l *fakeLifecycle) wire(s *fakeSession) session.Session {
	return session.Session{ID: s.target.SessionID, TenantID: s.target.TenantID, AgentID: s.target.AgentID,
		AgentVersion: s.target.AgentVersion, Status: s.status, AnthropicSessionID: s.target.UpstreamID, EndedAt: s.endedAt}
}

func (l *fakeLifecycle) get(tenant, id string) (*fakeSession, error) {
	s, ok := l.sessions[id]
	if !ok || s.target.TenantID != tenant {
		return nil, vargate.NotFound("session " + id)
	}
	return s, nil
}

func (l *fakeLifecycle) Get(_ context.Context, tenant, id string) (session.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.get(tenant, id)
	if err != nil {
		return session.Session{}, err
	}
	return l.wire(s), nil
}

func (l *fakeLifecycle) TurnEnded(_ context.Context, tenant, id, stop string) (session.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.get(tenant, id)
	if err != nil {
		return session.Session{}, err
	}
	s.stops = append(s.stops, stop)
	if !s.status.Final() {
		switch stop {
		case session.StopRetriesExhausted, session.StopBudgetReached:
			s.status = session.StatusFailed
		default:
			s.status = session.StatusCompleted
		}
	}
	return l.wire(s), nil
}

func (l *fakeLifecycle) Resumed(_ context.Context, tenant, id string) (session.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.get(tenant, id)
	if err != nil {
		return session.Session{}, err
	}
	if s.status == session.StatusCompleted {
		s.status = session.StatusActive
	}
	return l.wire(s), nil
}

func (l *fakeLifecycle) Fail(_ context.Context, tenant, id, reason string) (session.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := l.get(tenant, id)
	if err != nil {
		return session.Session{}, err
	}
	if !s.status.Final() {
		s.status = session.StatusFailed
		s.reasons = append(s.reasons, reason)
	}
	return l.wire(s), nil
}

func (l *fakeLifecycle) Interrupt(ctx context.Context, tenant, id, reason, actor string) (session.Session, bool, error) {
	l.mu.Lock()
	s, err := l.get(tenant, id)
	if err != nil {
		l.mu.Unlock()
		return session.Session{}, false, err
	}
	if s.status.Final() {
		l.mu.Unlock()
		return session.Session{}, false, vargate.Errorf(vargate.KindConflict, "session %s is %s", id, s.status)
	}
	now := time.Now().UTC()
	s.status, s.endedAt = session.StatusInterrupted, &now
	s.actors = append(s.actors, actor)
	s.reasons = append(s.reasons, reason)
	wire := l.wire(s)
	hold := l.hold
	l.mu.Unlock()
	if hold != nil {
		<-hold
	}
	_, err = l.client.Beta.Sessions.Events.Send(ctx, s.target.UpstreamID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}}},
	})
	return wire, err == nil, nil
}

// fakeEmitter records webhook events.
type fakeEmitter struct {
	mu     sync.Mutex
	events []string
	data   []any
}

func (e *fakeEmitter) Emit(_ context.Context, _, event string, data any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, event)
	e.data = append(e.data, data)
	return nil
}

func (e *fakeEmitter) count(event string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events {
		if ev == event {
			n++
		}
	}
	return n
}

// ids returns the IDs of evs.
func ids(evs []sim.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// actionIDs returns the ActionIDs of recs.
func actionIDs(recs []audit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ActionID
	}
	return out
}

// scenario registers sc with the simulator.
func (f *fixture) scenario(sc sim.Scenario) {
	f.t.Helper()
	if err := f.sim.RegisterScenario(sc); err != nil {
		f.t.Fatal(err)
	}
}

func bash(cmd, result string) sim.Step {
	return sim.Step{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": cmd}, Result: result}
}

var _ = fmt.Sprintf
