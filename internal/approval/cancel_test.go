package approval_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
)

// queue enqueues an action of a session, agent, key and tool.
func (e *env) queue(t *testing.T, session, agentID, key, tool string) approval.Action {
	t.Helper()
	a, err := e.svc.Enqueue(t.Context(), approval.Request{
		TenantID: e.ten, SessionID: session, AgentID: agentID, KeyID: key, Tool: tool,
		Args: json.RawMessage(`{"to":"jane@example.com"}`), ArgsDigest: "sha256:abc",
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) status(t *testing.T, id string) approval.Action {
	t.Helper()
	a, err := e.svc.Get(t.Context(), e.ten, id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Each way an action loses what it needed — its session ended, its agent
// archived, its tool withdrawn, its key revoked — cancels exactly the
// actions it selects that have not started: the move is on the action's
// history, the audit trail (source approval) and the webhook outbox, the
// session is told, nothing runs, and approving afterwards is a conflict
// that says why.
func TestCancelWaitingActions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		approver := e.principal(vargate.RoleApprover)
		a1 := e.queue(t, "vs-1", "agent-1", "tok-1", "send_email")
		a2 := e.queue(t, "vs-1", "agent-1", "tok-1", "web_search")
		b := e.queue(t, "vs-2", "agent-1", "tok-2", "web_search")
		c := e.queue(t, "vs-2", "agent-1", "tok-2", "send_email")
		d := e.queue(t, "", "agent-2", "key-agent2", "send_email")
		f := e.queue(t, "", "agent-3", "key-agent3", "send_email")

		if err := e.svc.SessionEnded(ctx, e.ten, "vs-1", "session vs-1 is interrupted: stop"); err != nil {
			t.Fatal(err)
		}
		for _, a := range []approval.Action{a1, a2} {
			got := e.status(t, a.ID)
			want := &approval.Failure{Code: approval.FailureCancelled, Message: "session vs-1 is interrupted: stop"}
			if got.Status != approval.StatusCancelled || !cmp.Equal(got.Failure, want) || got.FinishedAt == nil {
				t.Errorf("%s after the session ended: %s %+v", a.Tool, got.Status, got.Failure)
			}
			if diff := cmp.Diff([]approval.Status{approval.StatusPending, approval.StatusCancelled}, statuses(got.History)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"cancelled"}, e.auditDecisions(t, a.ID)); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
		}
		if ev := e.emit.last(); ev.event != approval.EventCancelled || ev.data.Status != approval.StatusCancelled ||
			ev.data.Failure == nil || ev.data.Failure.Code != approval.FailureCancelled {
			t.Errorf("last webhook: %s %+v", ev.event, ev.data)
		}
		notified := 0
		for _, a := range e.note.all() {
			if a.Status == approval.StatusCancelled {
				notified++
			}
		}
		if notified != 2 {
			t.Errorf("session told of %d cancellations, want 2", notified)
		}
		_, err := e.svc.Approve(ctx, approver, a1.ID, "")
		if !vargate.IsKind(err, vargate.KindConflict) || !strings.Contains(err.Error(), "cancelled") || !strings.Contains(err.Error(), "interrupted: stop") {
			t.Errorf("approve a cancelled action: %v, want a conflict saying it was cancelled and why", err)
		}
		if _, err := e.svc.Reject(ctx, approver, a2.ID, ""); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("reject a cancelled action: %v, want conflict", err)
		}
		for _, a := range []approval.Action{b, c, d, f} {
			if got := e.status(t, a.ID); got.Status != approval.StatusPending {
				t.Errorf("action of another session: %s", got.Status)
			}
		}

		// The agent stops allowing web_search: its actions of that tool go,
		// in every session; its other tools' stay.
		stillAllowed := func(tool string) bool { return tool == "send_email" }
		if err := e.svc.ToolsWithdrawn(ctx, e.ten, "agent-1", stillAllowed, "agent agent-1 version 2 no longer allows this tool", "key-admin"); err != nil {
			t.Fatal(err)
		}
		if got := e.status(t, b.ID); got.Status != approval.StatusCancelled || got.History[len(got.History)-1].Actor != "key-admin" {
			t.Errorf("withdrawn tool's action: %s by %s", got.Status, got.History[len(got.History)-1].Actor)
		}
		if got := e.status(t, c.ID); got.Status != approval.StatusPending {
			t.Errorf("another tool's action: %s", got.Status)
		}
		// The agent is archived: all its actions go.
		if err := e.svc.AgentArchived(ctx, e.ten, "agent-1", "agent agent-1 was archived", "key-admin"); err != nil {
			t.Fatal(err)
		}
		if got := e.status(t, c.ID); got.Status != approval.StatusCancelled {
			t.Errorf("archived agent's action: %s", got.Status)
		}
		// A key is revoked: the actions it queued go, no others.
		if err := e.svc.KeyRevoked(ctx, e.ten, "key-agent2", "key key-agent2 was revoked"); err != nil {
			t.Fatal(err)
		}
		if got := e.status(t, d.ID); got.Status != approval.StatusCancelled || got.KeyID != "key-agent2" {
			t.Errorf("revoked key's action: %s (key %q)", got.Status, got.KeyID)
		}
		if got := e.status(t, f.ID); got.Status != approval.StatusPending {
			t.Errorf("another key's action: %s", got.Status)
		}
		if n := e.exec.count(); n != 0 {
			t.Errorf("%d actions executed", n)
		}
		if _, err := e.svc.Cancel(ctx, e.ten, approval.Selector{Keep: stillAllowed}, "x", ""); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("cancel with no session, agent or key: %v, want invalid", err)
		}
		// Another tenant's cancellation does not reach these actions.
		if _, err := e.svc.Cancel(ctx, "tenant-other", approval.Selector{AgentID: "agent-3"}, "x", ""); err != nil {
			t.Fatal(err)
		}
		if got := e.status(t, f.ID); got.Status != approval.StatusPending {
			t.Errorf("another tenant's cancel reached the action: %s", got.Status)
		}
	})
}

// An action approved whose gateway died before it started is cancelled
// too, and the sweeper that would have started it finds nothing to run.
// One already executing is left to finish.
func TestCancelApprovedButNotStarted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.queue(t, "vs-1", "agent-1", "tok-1", "send_email")
		if _, _, err := e.svc.Store.Transition(ctx, approval.Transition{TenantID: e.ten, ID: a.ID,
			From: []approval.Status{approval.StatusPending}, To: approval.StatusApproved, At: e.clock.now(),
			Event: approval.Event{ID: "evt-approve", Actor: "key-approver"}, DecidedBy: "key-approver"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SessionEnded(ctx, e.ten, "vs-1", "session vs-1 is expired"); err != nil {
			t.Fatal(err)
		}
		got := e.status(t, a.ID)
		if got.Status != approval.StatusCancelled || got.DecidedBy != "key-approver" {
			t.Errorf("approved, not started: %s (decided by %q)", got.Status, got.DecidedBy)
		}
		e.clock.advance(approval.DefaultResumeAfter + time.Second)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		e.svc.Close()
		if n := e.exec.count(); n != 0 {
			t.Errorf("the sweeper ran a cancelled action %d times", n)
		}

		// Executing: not cancelled, finishes as it would have.
		svc := e.service(t)
		e.exec.entered, e.exec.release = make(chan struct{}, 1), make(chan struct{})
		run := e.queue(t, "vs-2", "agent-1", "tok-2", "send_email")
		done := make(chan approval.Action, 1)
		go func() {
			a, err := svc.Approve(context.Background(), e.principal(vargate.RoleApprover), run.ID, "")
			if err != nil {
				t.Error(err)
			}
			done <- a
		}()
		<-e.exec.entered
		if err := svc.SessionEnded(ctx, e.ten, "vs-2", "session vs-2 is interrupted"); err != nil {
			t.Fatal(err)
		}
		close(e.exec.release)
		if a := <-done; a.Status != approval.StatusExecuted {
			t.Errorf("executing action: %s, want executed", a.Status)
		}
	})
}

// A cancellation whose webhook could not be written is on the action's
// event row, and the sweeper sends it later: a crash between the commit
// and the webhook loses nothing.
func TestCancelSettledBySweeper(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.queue(t, "vs-1", "agent-1", "tok-1", "send_email")
		e.emit.fail.Store(true)
		if err := e.svc.SessionEnded(ctx, e.ten, "vs-1", "session vs-1 is completed"); err != nil {
			t.Fatal(err)
		}
		if e.status(t, a.ID).Status != approval.StatusCancelled {
			t.Fatal("not cancelled")
		}
		e.emit.fail.Store(false)
		e.clock.advance(approval.DefaultSettleAfter + time.Second)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if ev := e.emit.last(); ev.event != approval.EventCancelled || ev.data.ActionID != a.ID {
			t.Errorf("after the sweep, last webhook: %s %s", ev.event, ev.data.ActionID)
		}
	})
}

// A process without the audit log and the outbox (the CLI revoking a
// key) cancels with SettleLater: the move is committed at once, and a
// gateway's sweeper writes its audit record and webhook.
func TestCancelSettleLater(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.queue(t, "", "agent-1", "key-agent1", "send_email")
		cli := approval.New(e.svc.Store, nil, nil)
		cli.SettleLater, cli.Now = true, e.clock.now
		if err := cli.KeyRevoked(ctx, e.ten, "key-agent1", "key key-agent1 was revoked"); err != nil {
			t.Fatal(err)
		}
		if got := e.status(t, a.ID); got.Status != approval.StatusCancelled {
			t.Fatalf("after the CLI: %s", got.Status)
		}
		if got := e.auditDecisions(t, a.ID); len(got) != 0 {
			t.Fatalf("the CLI wrote audit records %v", got)
		}
		e.clock.advance(approval.DefaultSettleAfter + time.Second)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cancelled"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit after the gateway's sweep (-want +got):\n%s", diff)
		}
		if ev := e.emit.last(); ev.event != approval.EventCancelled || ev.data.ActionID != a.ID {
			t.Errorf("webhook after the sweep: %s %s", ev.event, ev.data.ActionID)
		}
	})
}
