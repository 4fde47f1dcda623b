package sqlstore_test

import (
	"testing"
	"time"

	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
)

// The approvals cancelled migration keeps the queue as it was (actions and their events),
// admits the cancelled status, and keeps the events' foreign key on the
// actions (SQLite rebuilds both tables).
func TestApprovalsCancelledMigration(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			db, ms := migratedBefore(t, d, "approvals cancelled")
			tn, err := auth.NewService(sqlstore.NewAuthStore(db)).CreateTenant(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (id, tenant_id, session_id, agent_id, tool, args, args_digest, status, created_at, expires_at)
					VALUES ('act-1', ?, 'vs-1', 'agent-1', 'send_email', ?, 'sha256:x', 'pending', ?, ?)`,
					tn.ID, []byte(`{"to":"a@example.com"}`), sqlstore.Micros(now), sqlstore.Micros(now.Add(time.Hour))); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO approval_events (id, action_id, tenant_id, seq, at, to_status, actor)
					VALUES ('evt-1', 'act-1', ?, 1, ?, 'pending', 'system')`, tn.ID, sqlstore.Micros(now))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx, ms); err != nil {
				t.Fatal(err)
			}
			s := sqlstore.NewApprovalStore(db)
			rec, err := s.Get(ctx, tn.ID, "act-1")
			if err != nil || rec.Status != approval.StatusPending || rec.KeyID != "" || string(rec.ArgsStored) != `{"to":"a@example.com"}` {
				t.Fatalf("after the migration: %+v, %v", rec, err)
			}
			got, ev, err := s.Transition(ctx, approval.Transition{TenantID: tn.ID, ID: "act-1", From: []approval.Status{approval.StatusPending},
				To: approval.StatusCancelled, At: now, Event: approval.Event{ID: "evt-2", Actor: "system", Note: "session ended"},
				Failure: &approval.Failure{Code: approval.FailureCancelled, Message: "session ended"}})
			if err != nil || got.Status != approval.StatusCancelled || got.Failure == nil || got.FinishedAt == nil || ev.Seq != 2 {
				t.Fatalf("cancel: %+v %+v, %v", got, ev, err)
			}
			evs, err := s.Events(ctx, tn.ID, "act-1")
			if err != nil || len(evs) != 2 || evs[0].ID != "evt-1" {
				t.Errorf("events = %+v, %v", evs, err)
			}
			err = db.InTx(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO approval_events (id, action_id, tenant_id, seq, at, to_status)
					VALUES ('evt-x', 'no-such-action', ?, 1, 0, 'pending')`, tn.ID)
				return err
			})
			if err == nil {
				t.Error("an event of no action was stored: the foreign key is gone")
			}
		})
	}
}
