package approval_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
)

func TestExpiry(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.svc.TTL = time.Hour
		a := e.enqueue(t, false)
		e.clock.advance(time.Hour - time.Second)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Get(ctx, e.ten, a.ID); got.Status != approval.StatusPending {
			t.Fatalf("a second before expiry: %s", got.Status)
		}
		e.clock.advance(time.Second)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.Get(ctx, e.ten, a.ID)
		if err != nil || got.Status != approval.StatusExpired {
			t.Fatalf("at expiry: %s, %v", got.Status, err)
		}
		if _, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), a.ID, ""); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("approve after expiry: got %v, want conflict", err)
		}
		if diff := cmp.Diff([]string{"expired"}, e.auditDecisions(t, a.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		if e.emit.last().event != approval.EventExpired {
			t.Errorf("last webhook: %s", e.emit.last().event)
		}
		if s := e.note.all(); len(s) != 1 || s[0].Status != approval.StatusExpired {
			t.Errorf("session told: %+v", s)
		}
		if e.exec.count() != 0 {
			t.Error("an expired action ran")
		}
	})
}

// TestLazyExpiry: reads expire an overdue action even when no sweep ran,
// and an approval that arrives after the expiry loses.
func TestLazyExpiry(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.enqueue(t, false)
		b := e.enqueue(t, false)
		e.clock.advance(approval.DefaultTTL)
		list, err := e.svc.List(ctx, e.ten, approval.Filter{Status: approval.StatusPending})
		if err != nil || len(list) != 0 {
			t.Errorf("pending after expiry: %d, %v", len(list), err)
		}
		if got, _ := e.svc.Get(ctx, e.ten, a.ID); got.Status != approval.StatusExpired {
			t.Errorf("get after expiry: %s", got.Status)
		}
		if _, err := e.svc.Approve(ctx, e.principal(vargate.RoleApprover), b.ID, ""); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("approve at expiry: got %v, want conflict", err)
		}
		counts, _ := e.svc.Counts(ctx, e.ten)
		if counts[approval.StatusExpired] != 2 {
			t.Errorf("counts: %v", counts)
		}
		if e.exec.count() != 0 {
			t.Error("an expired action ran")
		}
	})
}
