package approval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
)

func TestApproveExecutesAndTellsEveryone(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.enqueue(t, false)
		if a.Status != approval.StatusPending || !a.ExpiresAt.Equal(e.clock.now().Add(approval.DefaultTTL)) {
			t.Fatalf("queued: status %s, expires %v", a.Status, a.ExpiresAt)
		}
		if got := e.emit.names(); !cmp.Equal(got, []string{approval.EventPendingApproval}) {
			t.Errorf("webhooks after enqueue: %v", got)
		}
		e.clock.advance(time.Minute)
		got, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), a.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != approval.StatusExecuted || string(got.Result) != `{"sent":true}` ||
			got.ResultDigest != approval.Digest([]byte(`{"sent":true}`)) || got.DecidedBy != "key-approver" {
			t.Errorf("approved: %+v", got)
		}
		want := []approval.Status{approval.StatusPending, approval.StatusApproved, approval.StatusExecuting, approval.StatusExecuted}
		if diff := cmp.Diff(want, statuses(got.History)); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if e.exec.count() != 1 || string(e.exec.got[0].Args) != `{"to":"jane@example.com","body":"hi"}` {
			t.Errorf("executor: %d calls, args %s", e.exec.count(), e.exec.got[0].Args)
		}
		if diff := cmp.Diff([]string{"approved", "executing", "executed"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit decisions (-want +got):\n%s", diff)
		}
		wantHooks := []string{approval.EventPendingApproval, approval.EventApproved, approval.EventExecuted}
		if diff := cmp.Diff(wantHooks, e.emit.names()); diff != "" {
			t.Errorf("webhooks (-want +got):\n%s", diff)
		}
		if d := e.emit.last().data; d.Status != approval.StatusExecuted || d.ResultDigest == "" || d.DecidedBy != "key-approver" {
			t.Errorf("executed webhook data: %+v", d)
		}
		settled := e.note.all()
		if len(settled) != 1 || settled[0].Status != approval.StatusExecuted || string(settled[0].Result) != `{"sent":true}` {
			t.Errorf("session told: %+v", settled)
		}

		// The agent that asked sees the result; another agent does not.
		agent := vargate.Principal{TenantID: e.ten, Role: vargate.RoleAgent, AgentID: "agent-1", SessionID: "vs-1"}
		st, err := e.svc.StatusFor(ctx, agent, a.ID)
		if err != nil || st.Status != approval.StatusExecuted || string(st.Result) != `{"sent":true}` {
			t.Errorf("status for the agent: %+v, %v", st, err)
		}
		other := agent
		other.SessionID = "vs-2"
		if _, err := e.svc.StatusFor(ctx, other, a.ID); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("status for another session: got %v, want not found", err)
		}

		// Deciding again is a conflict, and nothing runs twice.
		for _, decide := range []func() error{
			func() error { _, err := e.svc.Approve(ctx, e.principal(vargate.RoleAdmin), a.ID, ""); return err },
			func() error { _, err := e.svc.Reject(ctx, e.principal(vargate.RoleAdmin), a.ID, "no"); return err },
		} {
			if err := decide(); !vargate.IsKind(err, vargate.KindConflict) {
				t.Errorf("second decision: got %v, want conflict", err)
			}
		}
		if e.exec.count() != 1 {
			t.Errorf("executions: %d, want 1", e.exec.count())
		}
	})
}

func TestRejectReasonReachesAgent(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.enqueue(t, false)
		got, err := e.svc.Reject(ctx, e.principal(vargate.RoleAdmin), a.ID, "External email not permitted for this task")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != approval.StatusRejected || got.Note != "External email not permitted for this task" {
			t.Errorf("rejected: %+v", got)
		}
		agent := vargate.Principal{TenantID: e.ten, Role: vargate.RoleAgent, AgentID: "agent-1"}
		st, err := e.svc.StatusFor(ctx, agent, a.ID)
		if err != nil || st.Note != "External email not permitted for this task" {
			t.Errorf("agent sees: %+v, %v", st, err)
		}
		if s := e.note.all(); len(s) != 1 || s[0].Status != approval.StatusRejected || s[0].Note == "" {
			t.Errorf("session told: %+v", s)
		}
		if d := e.emit.last(); d.event != approval.EventRejected || d.data.Reason != "External email not permitted for this task" {
			t.Errorf("webhook: %+v", d)
		}
		if diff := cmp.Diff([]string{"rejected"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		if e.exec.count() != 0 {
			t.Errorf("a rejected action ran")
		}
	})
}

func TestOnlyDecidersDecide(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		a := e.enqueue(t, false)
		for _, p := range []vargate.Principal{
			e.principal(vargate.RoleAuditor),
			e.principal(vargate.RoleAgent),
			{TenantID: e.ten, Role: vargate.RoleAgent, AgentID: "agent-1", SessionID: "vs-1", KeyID: "tok-1"},
		} {
			if _, err := e.svc.Approve(t.Context(), p, a.ID, ""); !vargate.IsKind(err, vargate.KindForbidden) {
				t.Errorf("approve as %s: got %v, want forbidden", p.Role, err)
			}
			if _, err := e.svc.Reject(t.Context(), p, a.ID, ""); !vargate.IsKind(err, vargate.KindForbidden) {
				t.Errorf("reject as %s: got %v, want forbidden", p.Role, err)
			}
		}
		other := e.principal(vargate.RoleAdmin)
		other.TenantID = "another-tenant"
		if _, err := e.svc.Approve(t.Context(), other, a.ID, ""); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("approve from another tenant: got %v, want not found", err)
		}
		if e.exec.count() != 0 {
			t.Errorf("executions: %d", e.exec.count())
		}
	})
}

func TestPolicyNowDenies(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.exec.err = &approval.PolicyDeniedError{Reasons: []string{"tool send_email is no longer allowed"}}
		a := e.enqueue(t, false)
		got, err := e.svc.Approve(t.Context(), e.principal(vargate.RoleApprover), a.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		want := &approval.Failure{Code: approval.FailurePolicyDenied, Message: approval.ErrPolicyNowDenies.Error(),
			Reasons: []string{"tool send_email is no longer allowed"}}
		if got.Status != approval.StatusFailed || !cmp.Equal(want, got.Failure) || got.Result != nil {
			t.Errorf("approve under a changed policy: %+v (failure %+v)", got, got.Failure)
		}
		if d := e.emit.last().data; d.Status != approval.StatusFailed || d.Failure == nil || d.Failure.Code != approval.FailurePolicyDenied {
			t.Errorf("webhook: %+v", d)
		}
		if diff := cmp.Diff([]string{"approved", "executing", "failed"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})
}

func TestExecutionErrorIsShownSafely(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.exec.err = vargate.Errorf(vargate.KindUpstream, "SMTP server refused the message")
		a := e.enqueue(t, false)
		got, _ := e.svc.Approve(t.Context(), e.principal(vargate.RoleApprover), a.ID, "")
		if got.Failure == nil || got.Failure.Code != approval.FailureExecution || got.Failure.Message != "SMTP server refused the message" {
			t.Errorf("failure: %+v", got.Failure)
		}
		e.exec.err = context.Canceled // no client-safe message
		b := e.enqueue(t, false)
		got, _ = e.svc.Approve(t.Context(), e.principal(vargate.RoleApprover), b.ID, "")
		if got.Failure == nil || got.Failure.Message != "the tool failed; the gateway's log has the detail" {
			t.Errorf("failure of an internal error: %+v", got.Failure)
		}
	})
}

func TestSensitiveArgumentsAreSealed(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.exec.result = json.RawMessage(`{"ssn":"123-45-6789"}`)
		a := e.enqueue(t, true)
		rec, err := sqlstore.NewApprovalStore(e.db).Get(ctx, e.ten, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.ArgsSealed || bytes.Contains(rec.ArgsStored, []byte("jane@example.com")) {
			t.Errorf("stored arguments not sealed: %q", rec.ArgsStored)
		}
		if d := e.emit.last().data; string(d.Arguments) != `{"to":"[EMAIL]","body":"hi"}` {
			t.Errorf("webhook shows %s, want the redacted arguments", d.Arguments)
		}
		list, err := e.svc.List(ctx, e.ten, approval.Filter{})
		if err != nil || len(list) != 1 || list[0].Args != nil {
			t.Errorf("listing carries arguments: %+v, %v", list, err)
		}
		if _, err := e.svc.Approve(ctx, e.principal(vargate.RoleAdmin), a.ID, ""); err != nil {
			t.Fatal(err)
		}
		if string(e.exec.got[0].Args) != `{"to":"jane@example.com","body":"hi"}` {
			t.Errorf("executor got %s", e.exec.got[0].Args)
		}
		rec, _ = sqlstore.NewApprovalStore(e.db).Get(ctx, e.ten, a.ID)
		if !rec.ResultSealed || bytes.Contains(rec.ResultStored, []byte("123-45-6789")) {
			t.Errorf("stored result not sealed: %q", rec.ResultStored)
		}
		got, err := e.svc.Get(ctx, e.ten, a.ID)
		if err != nil || string(got.Args) != `{"to":"jane@example.com","body":"hi"}` || string(got.Result) != `{"ssn":"123-45-6789"}` {
			t.Errorf("detail: %s %s %v", got.Args, got.Result, err)
		}

		// Without a sealing key, a sensitive action is refused, not stored in clear.
		e.svc.Sealer = nil
		_, err = e.svc.Enqueue(ctx, approval.Request{TenantID: e.ten, Tool: "t", Args: json.RawMessage(`{}`), Sensitive: true})
		if !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("sensitive without a sealer: got %v, want unavailable", err)
		}
	})
}

func TestEnqueueValidates(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		for _, c := range []struct {
			name  string
			req   approval.Request
			field string
		}{
			{"no tenant", approval.Request{Tool: "t", Args: json.RawMessage(`{}`)}, "tenant_id"},
			{"no tool", approval.Request{TenantID: e.ten, Args: json.RawMessage(`{}`)}, "tool"},
			{"args not an object", approval.Request{TenantID: e.ten, Tool: "t", Args: json.RawMessage(`[1]`)}, "args"},
			{"no args", approval.Request{TenantID: e.ten, Tool: "t"}, "args"},
		} {
			_, err := e.svc.Enqueue(t.Context(), c.req)
			var ve *vargate.Error
			if !vargate.IsKind(err, vargate.KindInvalid) || !asErr(err, &ve) || ve.Field != c.field {
				t.Errorf("%s: got %v, want invalid %s", c.name, err, c.field)
			}
		}
		a, err := e.svc.Enqueue(t.Context(), approval.Request{ID: "given-id", TenantID: e.ten, Tool: "t",
			Args: json.RawMessage(`{"a":1}`), TTL: time.Minute})
		if err != nil || a.ID != "given-id" || a.ArgsDigest != audit.Digest([]byte(`{"a":1}`)) ||
			!a.ExpiresAt.Equal(e.clock.now().Add(time.Minute)) {
			t.Errorf("enqueue with ID and TTL: %+v, %v", a, err)
		}
	})
}

// TestWithoutExecutor: a gateway with no executor wired refuses to
// approve (the action stays pending) but can still reject.
func TestWithoutExecutor(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.svc.Executor = nil
		a := e.enqueue(t, false)
		if _, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), a.ID, ""); !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("approve without an executor: got %v, want unavailable", err)
		}
		if got, _ := e.svc.Get(ctx, e.ten, a.ID); got.Status != approval.StatusPending {
			t.Errorf("after a refused approval: %s", got.Status)
		}
		if got, err := e.svc.Reject(ctx, e.principal(vargate.RoleApprover), a.ID, "no"); err != nil || got.Status != approval.StatusRejected {
			t.Errorf("reject without an executor: %s, %v", got.Status, err)
		}
	})
}

func TestPendingActionsCountsUnsettled(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		count := func() int {
			t.Helper()
			n, err := e.svc.PendingActions(ctx, e.ten, "vs-1")
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		approved, rejected := e.enqueue(t, false), e.enqueue(t, false)
		e.enqueue(t, false)
		if n := count(); n != 3 {
			t.Errorf("three pending: %d, want 3", n)
		}
		if _, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), approved.ID, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Reject(ctx, e.principal(vargate.RoleApprover), rejected.ID, "no"); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 1 {
			t.Errorf("after one executed and one rejected: %d, want 1", n)
		}
		if n, err := e.svc.PendingActions(ctx, e.ten, "vs-2"); err != nil || n != 0 {
			t.Errorf("another session: %d, %v; want 0", n, err)
		}
		e.clock.advance(approval.DefaultTTL)
		if n := count(); n != 0 {
			t.Errorf("past the expiry: %d, want 0", n)
		}
	})
}
