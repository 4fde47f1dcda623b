package approval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/vault/vaulttest"
)

const lease = approval.DefaultExecuteTimeout + approval.DefaultLeaseSlack

// TestTakeoverAfterStall: a gateway stalls mid-execution; another finds
// the action executing past its lease, marks it failed with the outcome
// unknown and does not run it; when the first one wakes up, its late
// result does not overwrite that.
func TestTakeoverAfterStall(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.exec.entered, e.exec.release = make(chan struct{}, 1), make(chan struct{})
		a := e.enqueue(t, false)
		done := make(chan approval.Action)
		go func() {
			got, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), a.ID, "")
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
		<-e.exec.entered
		other := e.service(t)
		e.clock.advance(lease - time.Second)
		if err := other.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := other.Get(ctx, e.ten, a.ID); got.Status != approval.StatusExecuting {
			t.Fatalf("within the lease: %s", got.Status)
		}
		e.clock.advance(time.Second)
		if err := other.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := other.Get(ctx, e.ten, a.ID)
		if err != nil || got.Status != approval.StatusFailed || got.Failure == nil || got.Failure.Code != approval.FailureInterrupted {
			t.Fatalf("after the lease: %+v, %v", got, err)
		}
		close(e.exec.release)
		late := <-done
		if late.Status != approval.StatusFailed || late.Failure.Code != approval.FailureInterrupted {
			t.Errorf("approver sees %s (%+v), want the recorded failure", late.Status, late.Failure)
		}
		if err := other.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.exec.count(); n != 1 {
			t.Errorf("executions: %d, want 1", n)
		}
		if diff := cmp.Diff([]string{"approved", "executing", "failed"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})
}

// TestResumeApprovedNeverStarted: a gateway died between recording the
// approval and starting the action; the sweeper starts it, once.
func TestResumeApprovedNeverStarted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.enqueue(t, false)
		store := sqlstore.NewApprovalStore(e.db)
		if _, _, err := store.Transition(ctx, approval.Transition{TenantID: e.ten, ID: a.ID,
			From: []approval.Status{approval.StatusPending}, To: approval.StatusApproved, At: e.clock.now(),
			Event: approval.Event{ID: "evt-crash", Actor: "key-approver"}, DecidedBy: "key-approver"}); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(approval.DefaultResumeAfter - time.Second)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if e.exec.count() != 0 {
			t.Fatal("started before ResumeAfter")
		}
		e.clock.advance(approval.DefaultSettleAfter)
		for range 2 {
			if err := e.svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		e.svc.Close() // waits for the started execution
		got, _ := store.Get(ctx, e.ten, a.ID)
		if got.Status != approval.StatusExecuted || e.exec.count() != 1 {
			t.Errorf("after resume: %s, %d executions", got.Status, e.exec.count())
		}
		// The approval's own side effects were repaired too.
		if diff := cmp.Diff([]string{"approved", "executing", "executed"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})
}

// TestSideEffectsRepaired: a webhook that could not be written and an
// audit record that could not be appended are completed by the sweeper;
// an action whose intent cannot be audited does not run.
func TestSideEffectsRepaired(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		fa := &failingAuditor{Auditor: e.alog}
		e.svc.Auditor = fa
		e.emit.fail.Store(true)
		fa.fail.Store(true)
		a := e.enqueue(t, false)
		got, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), a.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != approval.StatusFailed || got.Failure.Code != approval.FailureAuditUnavailable || e.exec.count() != 0 {
			t.Fatalf("with the audit trail down: %s %+v, %d executions", got.Status, got.Failure, e.exec.count())
		}
		if len(e.emit.names()) != 0 {
			t.Fatalf("webhooks while the outbox is down: %v", e.emit.names())
		}
		e.emit.fail.Store(false)
		fa.fail.Store(false)
		e.clock.advance(approval.DefaultSettleAfter)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		want := []string{approval.EventPendingApproval, approval.EventApproved, approval.EventExecuted}
		if diff := cmp.Diff(want, e.emit.names()); diff != "" {
			t.Errorf("webhooks after repair (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"approved", "executing", "failed"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit after repair (-want +got):\n%s", diff)
		}
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(e.emit.names()); n != 3 {
			t.Errorf("second sweep re-sent: %d webhooks", n)
		}
	})
}

// TestKilledDuringExecution runs a real gateway process that approves an
// action and is SIGKILLed while the tool runs. The next gateway marks the
// action failed (outcome unknown) and never runs it again.
func TestKilledDuringExecution(t *testing.T) {
	if dir := os.Getenv("VARGATE_APPROVAL_CHILD"); dir != "" {
		killedChild(dir, os.Getenv("VARGATE_APPROVAL_ACTION"), os.Getenv("VARGATE_APPROVAL_TENANT"))
		return
	}
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vargate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db)
	e.clock.set(time.Now().UTC())
	a := e.enqueue(t, true)

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledDuringExecution$", "-test.v")
	cmd.Env = append(os.Environ(), "VARGATE_APPROVAL_CHILD="+dir, "VARGATE_APPROVAL_ACTION="+a.ID, "VARGATE_APPROVAL_TENANT="+e.ten)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "executions")
	executed := false
	defer func() { // runs when For fails the test, too
		if !executed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Logf("child output:\n%s", out)
		}
	}()
	// The executor creates the file, then writes the action's line: wait
	// for the line.
	testwait.For(t, 60*time.Second, "the child to execute the action", func() bool {
		b, err := os.ReadFile(marker)
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	executed = true
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()

	if got, _ := e.svc.Get(ctx, e.ten, a.ID); got.Status != approval.StatusExecuting {
		t.Fatalf("after the kill: %s", got.Status)
	}
	e.clock.set(time.Now().UTC().Add(lease + time.Second))
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Get(ctx, e.ten, a.ID)
	if err != nil || got.Status != approval.StatusFailed || got.Failure.Code != approval.FailureInterrupted {
		t.Fatalf("after recovery: %+v, %v", got, err)
	}
	e.clock.advance(time.Hour)
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 1 || e.exec.count() != 0 {
		t.Errorf("executions: %d in the killed gateway, %d after restart; want 1 and 0", n, e.exec.count())
	}
	if diff := cmp.Diff([]string{"approved", "executing", "failed"}, e.auditDecisions(t, a.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// markerExecutor records each execution durably, then hangs.
type markerExecutor struct{ path string }

func (m markerExecutor) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	f, err := os.OpenFile(m.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(f, a.ID)
	_ = f.Sync()
	f.Close()
	<-ctx.Done()
	return nil, ctx.Err()
}

// killedChild is the gateway process that gets killed: it shares the
// parent's database (and test sealing key), approves the action and hangs
// in the tool.
func killedChild(dir, actionID, tenantID string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vargate.db"))
	if err != nil {
		fail(err)
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(dir, "child-audit.key"), "child")
	if err != nil {
		fail(err)
	}
	alog := audit.New(sqlstore.NewAuditStore(db), signer)
	if err := alog.Open(); err != nil {
		fail(err)
	}
	svc := approval.New(sqlstore.NewApprovalStore(db), markerExecutor{filepath.Join(dir, "executions")}, nil)
	svc.Auditor, svc.Sealer, svc.SweepInterval = alog, vaulttest.NewSealer(), -1
	if err := svc.Open(); err != nil {
		fail(err)
	}
	_, err = svc.Approve(ctx, vargate.Principal{TenantID: tenantID, Role: vargate.RoleApprover, KeyID: "key-child"}, actionID, "")
	fail(fmt.Errorf("approve returned: %w", err))
}
