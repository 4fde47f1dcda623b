package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault/vaulttest"
)

// clock is a test clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// executor counts executions; it can block until released and fail.
type executor struct {
	mu      sync.Mutex
	calls   int
	got     []approval.Action
	result  json.RawMessage
	err     error
	entered chan struct{} // receives once per call, if set
	release chan struct{} // each call waits for it, if set
}

func (e *executor) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	e.mu.Lock()
	e.calls++
	e.got = append(e.got, a)
	res, err, entered, release := e.result, e.err, e.entered, e.release
	e.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return res, err
}

func (e *executor) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// emitter records webhook events, deduplicated by id like the outbox.
type emitter struct {
	mu     sync.Mutex
	seen   map[string]bool
	events []emitted
	fail   atomic.Bool
}

type emitted struct {
	id, tenant, event string
	data              approval.WebhookData
}

func (e *emitter) EmitOnce(_ context.Context, id, tenantID, event string, data any) error {
	if e.fail.Load() {
		return errors.New("outbox unavailable")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if e.seen[id] {
		return nil
	}
	e.seen[id] = true
	e.events = append(e.events, emitted{id, tenantID, event, data.(approval.WebhookData)})
	return nil
}

func (e *emitter) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.events {
		out = append(out, ev.event)
	}
	return out
}

func (e *emitter) last() emitted {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events[len(e.events)-1]
}

// notifier records settled actions.
type notifier struct {
	mu      sync.Mutex
	settled []approval.Action
}

func (n *notifier) ActionSettled(_ context.Context, a approval.Action) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.settled = append(n.settled, a)
	return nil
}

func (n *notifier) all() []approval.Action {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]approval.Action(nil), n.settled...)
}

// failingAuditor wraps an auditor and fails while fail is set.
type failingAuditor struct {
	approval.Auditor
	fail atomic.Bool
}

func (f *failingAuditor) Append(ctx context.Context, rec audit.Record) (audit.Record, error) {
	if f.fail.Load() {
		return audit.Record{}, errors.New("audit store down")
	}
	return f.Auditor.Append(ctx, rec)
}

// env is one gateway's approval service over a fresh database.
type env struct {
	db    *sqlstore.DB
	alog  *audit.Log
	clock *clock
	exec  *executor
	emit  *emitter
	note  *notifier
	seal  *vaulttest.Sealer
	svc   *approval.Service
	ten   string
}

func newEnv(t testing.TB, db *sqlstore.DB) *env {
	t.Helper()
	ctx := t.Context()
	ten, err := auth.NewService(sqlstore.NewAuthStore(db)).CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "test")
	if err != nil {
		t.Fatal(err)
	}
	alog := audit.New(sqlstore.NewAuditStore(db), signer)
	alog.CheckpointInterval = -1
	if err := alog.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	e := &env{db: db, alog: alog, clock: newClock(), exec: &executor{result: json.RawMessage(`{"sent":true}`)},
		emit: &emitter{}, note: &notifier{}, seal: vaulttest.NewSealer(), ten: ten.ID}
	e.svc = e.service(t)
	return e
}

// service returns another approval service (another gateway process) over
// the env's database, sharing its clock, executor and fakes.
func (e *env) service(t testing.TB) *approval.Service {
	svc := approval.New(sqlstore.NewApprovalStore(e.db), e.exec, nil)
	svc.Auditor, svc.Emitter, svc.Notifier, svc.Sealer = e.alog, e.emit, e.note, e.seal
	svc.Now = e.clock.now
	svc.SweepInterval = -1 // tests sweep explicitly
	if err := svc.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func (e *env) principal(role vargate.Role) vargate.Principal {
	return vargate.Principal{TenantID: e.ten, Role: role, KeyID: "key-" + string(role)}
}

func (e *env) enqueue(t testing.TB, sensitive bool) approval.Action {
	t.Helper()
	a, err := e.svc.Enqueue(t.Context(), approval.Request{
		TenantID: e.ten, SessionID: "vs-1", AgentID: "agent-1", Tool: "send_email",
		Args: json.RawMessage(`{"to":"jane@example.com","body":"hi"}`), ArgsDigest: "sha256:abc",
		ArgsRedacted: json.RawMessage(`{"to":"[EMAIL]","body":"hi"}`), PolicyVersion: "pv-1", DecisionID: "dec-1",
		Reasons: []string{"send_email requires approval"}, Sensitive: sensitive,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// auditDecisions returns the decisions of the action's approval records.
func (e *env) auditDecisions(t *testing.T, actionID string) []string {
	t.Helper()
	recs, err := sqlstore.NewAuditStore(e.db).List(t.Context(), e.ten, audit.Filter{ActionID: actionID, Source: audit.SourceApproval})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(recs) - 1; i >= 0; i-- { // List is newest first
		out = append(out, recs[i].Decision)
	}
	return out
}

func statuses(h []approval.Event) []approval.Status {
	var out []approval.Status
	for _, ev := range h {
		out = append(out, ev.To)
	}
	return out
}

// each runs fn against SQLite and PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db)) })
}

func asErr(err error, target **vargate.Error) bool { return errors.As(err, target) }
