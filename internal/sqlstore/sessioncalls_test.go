package sqlstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// Session call counters: each reservation sees the counters as they stood
// before it, concurrent reservations each see a different count, denials
// add up, and sessions and tenants are apart.
func TestSessionCallCounters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewSessionStore(db)
		for want := range 3 {
			calls, denials, err := s.ReserveCall(ctx, "t1", "vs-a")
			if err != nil || calls != want || denials != 0 {
				t.Fatalf("reservation %d = %d, %d, %v", want, calls, denials, err)
			}
		}
		if err := s.CountDenial(ctx, "t1", "vs-a"); err != nil {
			t.Fatal(err)
		}
		if calls, denials, err := s.ReserveCall(ctx, "t1", "vs-a"); err != nil || calls != 3 || denials != 1 {
			t.Fatalf("after a denial = %d, %d, %v; want 3, 1", calls, denials, err)
		}
		// Another session, another tenant's session of the same ID.
		for _, k := range [][2]string{{"t1", "vs-b"}, {"t2", "vs-a"}} {
			if calls, denials, err := s.ReserveCall(ctx, k[0], k[1]); err != nil || calls != 0 || denials != 0 {
				t.Errorf("%v = %d, %d, %v; want a fresh count", k, calls, denials, err)
			}
		}
		// A denial before any reservation starts the row too.
		if err := s.CountDenial(ctx, "t1", "vs-c"); err != nil {
			t.Fatal(err)
		}
		if calls, denials, err := s.ReserveCall(ctx, "t1", "vs-c"); err != nil || calls != 0 || denials != 1 {
			t.Errorf("vs-c = %d, %d, %v; want 0, 1", calls, denials, err)
		}

		const n = 40
		seen := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				calls, _, err := s.ReserveCall(context.Background(), "t1", "vs-par")
				if err != nil {
					t.Error(err)
					return
				}
				seen[i] = calls
			}()
		}
		wg.Wait()
		got := map[int]bool{}
		for _, c := range seen {
			got[c] = true
		}
		for c := range n {
			if !got[c] {
				t.Errorf("no concurrent reservation saw %d: %v", c, seen)
				break
			}
		}
	})
}

// The session call counters migration starts the counters of sessions that already have
// governed records from the audit trail.
func TestSessionCallCountersBackfill(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			db, ms := migratedBefore(t, d, "session call counters")
			tn, err := auth.NewService(sqlstore.NewAuthStore(db)).CreateTenant(ctx, "acme")
			if err != nil {
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
			for _, r := range []audit.Record{
				{Source: audit.SourceMCPGoverned, SessionID: "vs-a", Decision: "allow"},
				{Source: audit.SourceMCPGoverned, SessionID: "vs-a", Decision: "deny"},
				{Source: audit.SourceMCPGoverned, SessionID: "vs-a", Decision: "require_approval"},
				{Source: audit.SourceMCPObserved, SessionID: "vs-a", Decision: "allow"},
				{Source: audit.SourceMCPGoverned, Decision: "allow"}, // an agent key's call
			} {
				r.TenantID, r.Time = tn.ID, time.Now()
				if _, err := log.Append(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			log.Close()
			if _, err := db.Migrate(ctx, ms); err != nil {
				t.Fatal(err)
			}
			calls, denials, err := sqlstore.NewSessionStore(db).ReserveCall(ctx, tn.ID, "vs-a")
			if err != nil || calls != 3 || denials != 1 {
				t.Errorf("after the migration = %d, %d, %v; want 3 governed calls, 1 denial", calls, denials, err)
			}
		})
	}
}
