package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/testwait"
)

// queue is the approval queue over env's database, wired into svc as
// cmd wires it.
func (e *env) queue(t *testing.T, svc *session.Service) *approval.Service {
	t.Helper()
	q := approval.New(sqlstore.NewApprovalStore(e.db), nil, nil)
	q.Auditor, q.Now, q.SweepInterval = e.log, e.clock.Now, -1
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	svc.Actions = q
	return q
}

func (e *env) enqueue(t *testing.T, q *approval.Service, s session.Session) approval.Action {
	t.Helper()
	a, err := q.Enqueue(t.Context(), approval.Request{TenantID: e.tenant, SessionID: s.ID, AgentID: s.AgentID,
		Tool: "vargate_send_email", Args: json.RawMessage(`{"to":"ada@example.com"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) wantCancelled(t *testing.T, q *approval.Service, id, because string) {
	t.Helper()
	a, err := q.Get(t.Context(), e.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != approval.StatusCancelled || a.Failure == nil || !strings.Contains(a.Failure.Message, because) {
		t.Errorf("action = %s %+v, want cancelled because %q", a.Status, a.Failure, because)
	}
}

// waitObserved waits until the event consumer has stored the session's
// first upstream event of type typ.
func (e *env) waitObserved(t *testing.T, s session.Session, typ string) {
	t.Helper()
	store := sqlstore.NewObserveStore(e.db)
	testwait.For(t, waitTimeout, "the consumer stores the session's "+typ, func() bool {
		evs, err := e.sim.Events(s.AnthropicSessionID)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(evs, func(ev sim.Event) bool { return ev.Type == typ })
		if i < 0 {
			return false
		}
		ids, err := store.ExistingEvents(t.Context(), s.ID, []string{evs[i].ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(ids) == 1
	})
}

// A session that expires takes its waiting actions with it.
func TestExpiryCancelsActions(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	q := e.queue(t, e.svc)
	cfg := e.newAgent(t, agent.Params{MaxSessionHours: ptr(0.1)})
	s, err := e.create(t, e.svc, cfg.ID, "scenario:hold")
	if err != nil {
		t.Fatal(err)
	}
	a := e.enqueue(t, q, s)
	e.clock.Advance(7 * time.Minute)
	if n, err := e.svc.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep expired %d, %v", n, err)
	}
	e.waitStatus(t, e.svc, s.ID, session.StatusExpired)
	e.wantCancelled(t, q, a.ID, "expired")
}

// A turn that ends with nothing pending completes the session; an action
// queued after the count (a race) is cancelled rather than left to run in
// a finished turn. Failing the session does the same.
func TestCompletionCancelsActions(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	q := e.queue(t, e.svc)
	cfg := e.newAgent(t, agent.Params{})
	s, err := e.create(t, e.svc, cfg.ID, "scenario:hold")
	if err != nil {
		t.Fatal(err)
	}
	// The consumer moves a session it sees running back to active, so
	// the turn's end below must come after it has read the turn's start.
	e.waitObserved(t, s, "agent.message")
	a := e.enqueue(t, q, s) // e.pending still says 0
	if _, err := e.svc.TurnEnded(t.Context(), e.tenant, s.ID, session.StopEndTurn); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, e.svc, s.ID, session.StatusCompleted)
	e.wantCancelled(t, q, a.ID, "completed")

	b := e.enqueue(t, q, s)
	if _, err := e.svc.Fail(t.Context(), e.tenant, s.ID, "terminated upstream"); err != nil {
		t.Fatal(err)
	}
	e.wantCancelled(t, q, b.ID, "terminated upstream")
}

// flakyActions fails its first n calls.
type flakyActions struct {
	session.Actions
	mu    sync.Mutex
	fails int
}

func (f *flakyActions) SessionEnded(ctx context.Context, tenantID, sessionID, reason string) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errors.New("approval store unavailable")
	}
	return f.Actions.SessionEnded(ctx, tenantID, sessionID, reason)
}

// A cancellation that fails when the session ends is part of the cleanup
// the sweeper retries: the session is not marked cleaned until its
// actions are cancelled.
func TestEndedSessionCancellationRetried(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	q := e.queue(t, e.svc)
	e.svc.Actions = &flakyActions{Actions: q, fails: 1}
	cfg := e.newAgent(t, agent.Params{MaxSessionHours: ptr(0.1)})
	s, err := e.create(t, e.svc, cfg.ID, "scenario:hold")
	if err != nil {
		t.Fatal(err)
	}
	a := e.enqueue(t, q, s)
	if _, _, err := e.svc.Interrupt(t.Context(), e.tenant, s.ID, "stop", "key-admin"); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Get(t.Context(), e.tenant, a.ID); got.Status != approval.StatusPending {
		t.Fatalf("with the queue down: %s", got.Status)
	}
	e.clock.Advance(7 * time.Minute) // the ended session is due
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.wantCancelled(t, q, a.ID, "stop")
}
