package sqlstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
)

// The audit log rowid migration (SQLite rebuilds audit_log as a rowid
// table; nothing on PostgreSQL) keeps every record as it was: they read
// back identical, every chain and checkpoint verifies, appends go on with
// the next seq, and the table still refuses UPDATE and DELETE.
func TestAuditLogRowidMigration(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			db, ms := migratedBefore(t, d, "audit log rowid")

			signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
			if err != nil {
				t.Fatal(err)
			}
			openLog := func() *audit.Log {
				l := audit.New(sqlstore.NewAuditStore(db), signer)
				l.CheckpointInterval = -1
				if err := l.Open(); err != nil {
					t.Fatal(err)
				}
				return l
			}
			// Three tenants, their records interleaved; 300 records each
			// complete a Merkle node (256) and leave a partial range.
			tenants := []string{"tenant-a", "tenant-b", "tenant-c"}
			l := openLog()
			var recs []audit.Record
			for i := range 900 {
				recs = append(recs, migrationRecord(tenants[i%3], i))
			}
			stored := map[string][]audit.Record{}
			for chunk := range slices.Chunk(recs, 100) {
				out, errs := l.AppendAll(ctx, chunk)
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				for _, r := range out {
					stored[r.TenantID] = append(stored[r.TenantID], r)
				}
			}
			for _, tn := range tenants[:2] {
				if _, err := l.Checkpoint(ctx, tn); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			if _, err := db.Migrate(ctx, ms); err != nil {
				t.Fatal(err)
			}
			if d == sqlstore.SQLite {
				var schema string
				var secure int
				if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'`).Scan(&schema); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(strings.ToUpper(schema), "WITHOUT ROWID") || !strings.Contains(schema, "outcome") {
					t.Errorf("audit_log after the migration:\n%s", schema)
				}
				// The migration turns secure_delete off for its copy; the
				// writer connection must have it back.
				if err := db.Write.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&secure); err != nil || secure != 1 {
					t.Errorf("secure_delete on the writer after the migration = %d, %v; want 1", secure, err)
				}
				var objs []string
				rows, err := db.QueryContext(ctx, `SELECT type || ' ' || name FROM sqlite_master WHERE tbl_name = 'audit_log' ORDER BY type, name`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var s string
					if err := rows.Scan(&s); err != nil {
						t.Fatal(err)
					}
					objs = append(objs, s)
				}
				rows.Close()
				want := []string{"index audit_log_action", "index audit_log_session", "index sqlite_autoindex_audit_log_1",
					"table audit_log", "trigger audit_log_no_delete", "trigger audit_log_no_update"}
				if diff := cmp.Diff(want, objs); diff != "" {
					t.Errorf("schema objects of audit_log (-want +got):\n%s", diff)
				}
			}

			store := sqlstore.NewAuditStore(db)
			for _, tn := range tenants {
				var got []audit.Record
				if err := store.Scan(ctx, tn, 1, 0, func(r *audit.Record) error {
					got = append(got, r.Clone())
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				// reflect.DeepEqual first: cmp.Diff compares the records'
				// JSON byte by byte and took most of a minute under -race.
				if !reflect.DeepEqual(stored[tn], got) {
					t.Errorf("%s: records after the migration (-before +after):\n%s", tn, cmp.Diff(stored[tn], got))
				}
				var action string
				for _, r := range stored[tn][150:] {
					if action = r.ActionID; action != "" {
						break
					}
				}
				for _, f := range []audit.Filter{{SessionID: "vs-" + tn + "-2"}, {ActionID: action}, {Source: audit.SourceMCPGoverned}} {
					f.Limit = 1000
					var want []audit.Record
					for i := len(stored[tn]) - 1; i >= 0; i-- {
						r := stored[tn][i]
						if (f.SessionID == "" || r.SessionID == f.SessionID) && (f.ActionID == "" || r.ActionID == f.ActionID) && (f.Source == "" || r.Source == f.Source) {
							want = append(want, r)
						}
					}
					listed, err := store.List(ctx, tn, f)
					if err != nil || len(want) == 0 {
						t.Fatalf("%s: list %+v: %v (%d records expected)", tn, f, err, len(want))
					}
					if !reflect.DeepEqual(want, listed) {
						t.Errorf("%s: list %+v after the migration (-want +got):\n%s", tn, f, cmp.Diff(want, listed))
					}
				}
			}

			l = openLog()
			defer l.Close()
			for _, tn := range tenants {
				v, err := l.Verify(ctx, tn)
				if err != nil || !v.Valid || v.RecordsChecked != 300 {
					t.Errorf("%s: verify after the migration: %+v, %v", tn, v, err)
				}
				if tn != "tenant-c" && v.CheckpointsChecked != 1 {
					t.Errorf("%s: %d checkpoints checked, want 1", tn, v.CheckpointsChecked)
				}
			}
			for i, tn := range tenants {
				r, err := l.Append(ctx, migrationRecord(tn, 900+i))
				if err != nil || r.Seq != 301 || r.PrevHash != stored[tn][299].Hash {
					t.Fatalf("%s: append after the migration: seq %d, %v", tn, r.Seq, err)
				}
				if _, err := l.Checkpoint(ctx, tn); err != nil {
					t.Fatal(err)
				}
				v, err := l.Verify(ctx, tn)
				if err != nil || !v.Valid || v.RecordsChecked != 301 {
					t.Errorf("%s: verify after an append: %+v, %v", tn, v, err)
				}
				p, c, err := l.InclusionProof(ctx, tn, 5, 0)
				if err != nil || audit.VerifyInclusion(p, stored[tn][4].Hash, c.Root) != nil {
					t.Errorf("%s: inclusion proof of record 5: %v", tn, err)
				}
			}
			for _, stmt := range []string{
				`UPDATE audit_log SET decision = 'allow' WHERE tenant_id = 'tenant-a' AND seq = 2`,
				`UPDATE audit_log SET detail = NULL`,
				`DELETE FROM audit_log WHERE tenant_id = 'tenant-b' AND seq = 301`,
				`DELETE FROM audit_log`,
			} {
				if _, err := db.Write.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: %v, want refused as append-only", stmt, err)
				}
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil || n != 903 {
				t.Errorf("records: %d, %v; want 903", n, err)
			}
		})
	}
}

// migrationRecord is the i-th record of a tenant for the migration test:
// many a large governed record with an outcome, 1-3 KB of
// arguments and detail; the others smaller, without an outcome.
func migrationRecord(tenant string, i int) audit.Record {
	r := audit.Record{TenantID: tenant, Source: audit.SourceSession, SessionID: fmt.Sprintf("vs-%s-%d", tenant, i%5),
		AgentID: "agent-1", Actor: "system", Detail: json.RawMessage(fmt.Sprintf(`{"event":"session.created","n":%d}`, i))}
	if i%4 == 1 {
		r.SessionID = ""
	}
	if i%3 == 0 || i%5 == 0 {
		big := strings.Repeat("é<b>&x", 150+i%300)
		r.Source, r.Tool, r.Decision, r.ActionID = audit.SourceMCPGoverned, "send_email", "allow", fmt.Sprintf("act-%d", i)
		r.PolicyVersion, r.DecisionID, r.ArgsDigest = "v3", fmt.Sprintf("dec-%d", i), fmt.Sprintf("sha256:%064x", i)
		r.Reasons = []string{"external recipient", `quote " and \ slash`}
		r.ArgsRedacted = json.RawMessage(fmt.Sprintf(`{"to":"[REDACTED:email]","body":%q}`, big))
		r.Detail = json.RawMessage(fmt.Sprintf(`{"prompt":%q,"latency":{"policy_us":%d}}`, big+big, i))
		r.Outcome = []audit.Outcome{audit.OutcomeExecuted, audit.OutcomeDenied, audit.OutcomePending}[i%3]
		r.Anomaly = json.RawMessage(`{"flags":["burst"],"score":0.5}`)
	}
	return r
}
