package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func approvalTenant(t *testing.T, db *sqlstore.DB, id string) {
	t.Helper()
	err := sqlstore.NewAuthStore(db).CreateTenant(t.Context(), auth.Tenant{ID: id, Name: id, CreatedAt: time.Unix(0, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
}

func TestApprovalStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		approvalTenant(t, db, "ten-a")
		approvalTenant(t, db, "ten-b")
		s := sqlstore.NewApprovalStore(db)
		at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		rec := approval.Record{
			Action: approval.Action{
				ID: "act-1", TenantID: "ten-a", SessionID: "vs-1", AgentID: "agent-1", Tool: "send_email",
				ArgsRedacted: json.RawMessage(`{"to":"[EMAIL]"}`), ArgsDigest: "sha256:00", Sensitive: true,
				PolicyVersion: "pv-3", DecisionID: "dec-1", Reasons: []string{"approval required"},
				Status: approval.StatusPending, CreatedAt: at, ExpiresAt: at.Add(time.Hour),
			},
			ArgsStored: []byte{1, 2, 3}, ArgsSealed: true, Version: 1,
		}
		first := approval.Event{ID: "evt-1", At: at, Actor: approval.ActorSystem, AuditedAt: &at}
		if err := s.Create(ctx, rec, first); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, rec, approval.Event{ID: "evt-x", At: at}); !vargate.IsKind(err, vargate.KindConflict) {
			t.Fatalf("duplicate create: got %v, want conflict", err)
		}
		got, err := s.Get(ctx, "ten-a", "act-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rec, got); diff != "" {
			t.Errorf("record (-want +got):\n%s", diff)
		}
		if _, err := s.Get(ctx, "ten-b", "act-1"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("get through another tenant: got %v, want not found", err)
		}

		// Approve after expiry is a conflict; before it, the first wins.
		_, _, err = s.Transition(ctx, approval.Transition{TenantID: "ten-a", ID: "act-1",
			From: []approval.Status{approval.StatusPending}, To: approval.StatusApproved, At: at.Add(time.Hour), Unexpired: true,
			Event: approval.Event{ID: "evt-late"}})
		if !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("approve at expiry: got %v, want conflict", err)
		}
		decided := at.Add(time.Minute)
		r2, ev, err := s.Transition(ctx, approval.Transition{TenantID: "ten-a", ID: "act-1",
			From: []approval.Status{approval.StatusPending}, To: approval.StatusApproved, At: decided, Unexpired: true,
			Event: approval.Event{ID: "evt-2", Actor: "key-1", Note: "ok"}, DecidedBy: "key-1", Note: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		if r2.Status != approval.StatusApproved || r2.DecidedBy != "key-1" || r2.Note != "ok" || !r2.DecidedAt.Equal(decided) || r2.Version != 2 {
			t.Errorf("after approve: %+v", r2)
		}
		wantEv := approval.Event{ID: "evt-2", ActionID: "act-1", TenantID: "ten-a", Seq: 2, At: decided,
			From: approval.StatusPending, To: approval.StatusApproved, Actor: "key-1", Note: "ok"}
		if diff := cmp.Diff(wantEv, ev); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}
		_, _, err = s.Transition(ctx, approval.Transition{TenantID: "ten-a", ID: "act-1",
			From: []approval.Status{approval.StatusPending}, To: approval.StatusRejected, At: decided, Event: approval.Event{ID: "evt-3"}})
		if !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("reject after approve: got %v, want conflict", err)
		}
		if _, _, err = s.Transition(ctx, approval.Transition{TenantID: "ten-b", ID: "act-1",
			From: []approval.Status{approval.StatusApproved}, To: approval.StatusExecuting, Event: approval.Event{ID: "evt-4"}}); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("transition through another tenant: got %v, want not found", err)
		}

		due, err := s.Due(ctx, approval.StatusApproved, decided, 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("due approved: %d, %v", len(due), err)
		}
		lease := decided.Add(3 * time.Minute)
		if _, _, err := s.Transition(ctx, approval.Transition{TenantID: "ten-a", ID: "act-1",
			From: []approval.Status{approval.StatusApproved}, To: approval.StatusExecuting, At: decided,
			Event: approval.Event{ID: "evt-5"}, Runner: "run-1", LeaseUntil: lease}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			now  time.Time
			want int
		}{{lease.Add(-time.Second), 0}, {lease, 1}} {
			due, err := s.Due(ctx, approval.StatusExecuting, c.now, 10)
			if err != nil || len(due) != c.want {
				t.Errorf("due executing at %v: %d, %v; want %d", c.now, len(due), err, c.want)
			}
		}
		failure := &approval.Failure{Code: approval.FailurePolicyDenied, Message: "no", Reasons: []string{"r1"}}
		r3, _, err := s.Transition(ctx, approval.Transition{TenantID: "ten-a", ID: "act-1",
			From: []approval.Status{approval.StatusExecuting}, To: approval.StatusFailed, At: lease,
			Event: approval.Event{ID: "evt-6"}, Failure: failure, ResultStored: []byte(`{}`), ResultDigest: "sha256:11"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(failure, r3.Failure); diff != "" || r3.LeaseUntil != nil || r3.Runner != "run-1" ||
			string(r3.ResultStored) != `{}` || r3.ResultSealed || !r3.FinishedAt.Equal(lease) {
			t.Errorf("after fail: %+v %s", r3, diff)
		}

		evs, err := s.Events(ctx, "ten-a", "act-1")
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int
		for _, e := range evs {
			seqs = append(seqs, e.Seq)
		}
		if diff := cmp.Diff([]int{1, 2, 3, 4}, seqs); diff != "" {
			t.Errorf("event seqs (-want +got):\n%s", diff)
		}
		un, err := s.Unsettled(ctx, lease, 10)
		if err != nil || len(un) != 4 {
			t.Fatalf("unsettled: %d, %v", len(un), err)
		}
		for _, e := range un {
			if err := s.MarkSettled(ctx, e.ID, true, false, lease); err != nil {
				t.Fatal(err)
			}
		}
		un, _ = s.Unsettled(ctx, lease, 10)
		if len(un) != 4 {
			t.Errorf("audited but not notified: %d unsettled, want 4", len(un))
		}
		for _, e := range un {
			if err := s.MarkSettled(ctx, e.ID, false, true, lease); err != nil {
				t.Fatal(err)
			}
		}
		if un, _ = s.Unsettled(ctx, lease, 10); len(un) != 0 {
			t.Errorf("settled events still listed: %d", len(un))
		}

		// Listing, filters and counts.
		for i, tool := range []string{"a", "b", "a"} {
			r := rec
			r.ID, r.Tool, r.CreatedAt, r.ArgsSealed = "act-l"+string(rune('0'+i)), tool, at.Add(time.Duration(i+1)*time.Second), false
			if err := s.Create(ctx, r, approval.Event{ID: "evt-l" + string(rune('0'+i)), At: at}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List(ctx, "ten-a", approval.Filter{Status: approval.StatusPending, Tool: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != "act-l2" || list[1].ID != "act-l0" {
			t.Errorf("list: %v", approvalIDs(list))
		}
		list, _ = s.List(ctx, "ten-a", approval.Filter{Before: at.Add(3 * time.Second), Limit: 1})
		if len(list) != 1 || list[0].ID != "act-l1" {
			t.Errorf("list page: %v", approvalIDs(list))
		}
		counts, err := s.Counts(ctx, "ten-a")
		if err != nil {
			t.Fatal(err)
		}
		if counts[approval.StatusPending] != 3 || counts[approval.StatusFailed] != 1 || counts[approval.StatusExpired] != 0 {
			t.Errorf("counts: %v", counts)
		}
		due, _ = s.Due(ctx, approval.StatusPending, at.Add(time.Hour), 10)
		if len(due) != 3 {
			t.Errorf("due pending: %d, want 3", len(due))
		}
	})
}

func approvalIDs(rs []approval.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestApprovalStoreCountUnsettled checks the count behind a session's
// pending actions: pending and not expired, approved and executing count;
// expired-by-time pending actions, settled ones, other sessions' and other
// tenants' do not.
func TestApprovalStoreCountUnsettled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		approvalTenant(t, db, "ten-a")
		approvalTenant(t, db, "ten-b")
		s := sqlstore.NewApprovalStore(db)
		at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		now := at.Add(30 * time.Minute)
		create := func(tenant, id, session string, ttl time.Duration) {
			t.Helper()
			rec := approval.Record{
				Action: approval.Action{ID: id, TenantID: tenant, SessionID: session, Tool: "send_email",
					Status: approval.StatusPending, CreatedAt: at, ExpiresAt: at.Add(ttl)},
				ArgsStored: []byte(`{}`), Version: 1,
			}
			if err := s.Create(ctx, rec, approval.Event{ID: "evt-" + id, At: at}); err != nil {
				t.Fatal(err)
			}
		}
		move := func(id string, to ...approval.Status) {
			t.Helper()
			from := approval.StatusPending
			for i, st := range to {
				tr := approval.Transition{TenantID: "ten-a", ID: id, From: []approval.Status{from}, To: st, At: at,
					Event: approval.Event{ID: fmt.Sprintf("evt-%s-%d", id, i)}}
				if st == approval.StatusExecuting {
					tr.Runner, tr.LeaseUntil = "run-1", now.Add(time.Hour)
				}
				if _, _, err := s.Transition(ctx, tr); err != nil {
					t.Fatalf("%s to %s: %v", id, st, err)
				}
				from = st
			}
		}
		count := func(tenant, session string) int {
			t.Helper()
			n, err := s.CountUnsettled(ctx, tenant, session, now)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("ten-a", "vs-1"); n != 0 {
			t.Errorf("no actions: %d, want 0", n)
		}

		create("ten-a", "pending", "vs-1", time.Hour)
		create("ten-a", "pending-due", "vs-1", 30*time.Minute) // expires at now: not counted
		create("ten-a", "approved", "vs-1", time.Hour)
		move("approved", approval.StatusApproved)
		create("ten-a", "executing", "vs-1", time.Hour)
		move("executing", approval.StatusApproved, approval.StatusExecuting)
		create("ten-a", "executed", "vs-1", time.Hour)
		move("executed", approval.StatusApproved, approval.StatusExecuting, approval.StatusExecuted)
		create("ten-a", "rejected", "vs-1", time.Hour)
		move("rejected", approval.StatusRejected)
		create("ten-a", "cancelled", "vs-1", time.Hour)
		move("cancelled", approval.StatusCancelled)
		create("ten-a", "other-session", "vs-2", time.Hour)
		create("ten-b", "other-tenant", "vs-1", time.Hour)

		if n := count("ten-a", "vs-1"); n != 3 {
			t.Errorf("session vs-1: %d, want 3 (pending, approved, executing)", n)
		}
		if n := count("ten-a", "vs-2"); n != 1 {
			t.Errorf("session vs-2: %d, want 1", n)
		}
		if n := count("ten-b", "vs-1"); n != 1 {
			t.Errorf("tenant ten-b: %d, want 1", n)
		}
	})
}
