package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/postgres"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// newSigner returns a signer with a fresh key file in a temp directory.
func newSigner(t testing.TB) *audit.Signer {
	t.Helper()
	s, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openLog returns an open Log over db that never checkpoints on its own,
// closed at the end of the test.
func openLog(t testing.TB, db *sqlstore.DB, signer *audit.Signer) *audit.Log {
	t.Helper()
	l := audit.New(sqlstore.NewAuditStore(db), signer)
	l.CheckpointInterval = -1
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// event returns the i-th synthetic record of a tenant.
func event(tenant string, i int) audit.Record {
	r := audit.Record{
		TenantID:      tenant,
		Time:          time.Date(2026, 4, 11, 14, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Source:        []audit.Source{audit.SourceMCPGoverned, audit.SourceMCPObserved, audit.SourceApproval, audit.SourceControlPlane, audit.SourceCredential, audit.SourceSession}[i%6],
		SessionID:     fmt.Sprintf("sess-%d", i%5),
		AgentID:       "agent-7",
		ActionID:      fmt.Sprintf("act-%d", i),
		Tool:          []string{"send_email", "read_file", "transfer_funds"}[i%3],
		Decision:      []string{"allow", "deny", "pending"}[i%3],
		PolicyVersion: "v12",
		DecisionID:    fmt.Sprintf("dec-%d", i),
		ArgsDigest:    fmt.Sprintf("sha256:%064x", i),
		ArgsRedacted:  json.RawMessage(fmt.Sprintf(`{"amount":%d,"to":"[REDACTED:email]","memo":"<b>&</b>"}`, i)),
		ResultDigest:  fmt.Sprintf("sha256:%064x", i+1),
		Actor:         "key-abc",
	}
	if i%3 == 1 {
		r.Reasons = []string{"external recipient", "amount over limit"}
		r.Anomaly = json.RawMessage(`{"flags":["burst"],"score":0.75}`)
	}
	if i%7 == 0 {
		r.Detail = json.RawMessage(`{"prompt_sha256":"abc","change":{"before":1,"after":2}}`)
	}
	return r
}

// fill appends n records to tenant through the store directly, in batches,
// signing a checkpoint after every batch of every records.
func fill(t testing.TB, l *audit.Log, db *sqlstore.DB, tenant string, n, every int) []audit.Record {
	t.Helper()
	ctx := context.Background()
	st := sqlstore.NewAuditStore(db)
	head, err := st.Head(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for done := 0; done < n; {
		k := min(every, n-done)
		batch := make([]*audit.Record, k)
		for i := range batch {
			r := event(tenant, int(head.Seq)+done+i)
			if err := r.Normalize(); err != nil {
				t.Fatal(err)
			}
			batch[i] = &r
		}
		if err := st.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, r := range batch {
			out = append(out, *r)
		}
		done += k
		if l != nil {
			if _, err := l.Checkpoint(ctx, tenant); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// pgSchemaDSN creates an empty PostgreSQL schema and returns a DSN whose
// search path is it, so several pools (or processes) can share it. The
// schema is migrated and dropped at cleanup. It skips when PostgreSQL is
// unreachable (unless CI is set).
func pgSchemaDSN(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	dsn := storetest.PostgresDSN()
	admin, err := postgres.Open(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	schema := "audit_" + vargate.NewID("", 6)
	if _, err := admin.Write.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Write.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	out := dsn + sep + "search_path=" + schema
	db := openPG(t, out)
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	return out
}

func openPG(t testing.TB, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
