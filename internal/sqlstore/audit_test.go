package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func auditRecord(t *testing.T, tenant string, i int) *audit.Record {
	t.Helper()
	r := &audit.Record{
		TenantID:      tenant,
		Time:          time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Source:        audit.SourceMCPGoverned,
		SessionID:     fmt.Sprintf("sess-%d", i%3),
		AgentID:       "agent-1",
		ActionID:      fmt.Sprintf("act-%d", i),
		Tool:          []string{"send_email", "read_file"}[i%2],
		Decision:      []string{"allow", "deny"}[i%2],
		PolicyVersion: "v7",
		DecisionID:    fmt.Sprintf("dec-%d", i),
		ArgsDigest:    "sha256:abc",
		ArgsRedacted:  json.RawMessage(`{"to":"[REDACTED:email]","n":1}`),
		Actor:         "key-1",
	}
	if i%2 == 1 {
		r.Reasons = []string{"external recipient", "no approval"}
		r.Anomaly = json.RawMessage(`{"score":0.5,"flags":["burst"]}`)
	}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuditStoreAppend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuditStore(db)
		head, err := s.Head(ctx, "t1")
		if err != nil || head.Seq != 0 {
			t.Fatalf("head of empty chain = %+v, %v; want seq 0", head, err)
		}
		// Two batches, the first mixing tenants.
		var all []*audit.Record
		batch := []*audit.Record{auditRecord(t, "t2", 0)}
		for i := range 300 {
			batch = append(batch, auditRecord(t, "t1", i))
		}
		if err := s.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch[1:]...)
		more := []*audit.Record{auditRecord(t, "t1", 300), auditRecord(t, "t1", 301)}
		if err := s.Append(ctx, more); err != nil {
			t.Fatal(err)
		}
		all = append(all, more...)
		for i, r := range all {
			if r.Seq != int64(i+1) {
				t.Fatalf("record %d got seq %d", i, r.Seq)
			}
		}
		if batch[0].Seq != 1 {
			t.Errorf("first record of t2 got seq %d, want 1", batch[0].Seq)
		}

		head, err = s.Head(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if head.Seq != 302 || head.Hash != all[301].Hash {
			t.Errorf("head = seq %d hash %s, want 302 %s", head.Seq, head.Hash, all[301].Hash)
		}
		tenants, err := s.Tenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"t1", "t2"}, tenants); diff != "" {
			t.Errorf("tenants (-want +got):\n%s", diff)
		}

		var scanned []audit.Record
		err = s.Scan(ctx, "t1", 10, 12, func(r *audit.Record) error {
			c := *r
			c.ArgsRedacted = append(json.RawMessage(nil), r.ArgsRedacted...)
			c.Anomaly = append(json.RawMessage(nil), r.Anomaly...)
			if len(c.Anomaly) == 0 {
				c.Anomaly = nil
			}
			scanned = append(scanned, c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []audit.Record{*all[9], *all[10], *all[11]}
		if diff := cmp.Diff(want, scanned); diff != "" {
			t.Errorf("scan 10..12 (-want +got):\n%s", diff)
		}

		hs, err := s.Hashes(ctx, "t1", 299, 303)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]audit.Hash{all[298].Hash, all[299].Hash, all[300].Hash, all[301].Hash}, hs); diff != "" {
			t.Errorf("hashes 299..302 (-want +got):\n%s", diff)
		}
		// 302 leaves complete one stored subtree at level 8 (leaves 0..255).
		nodes, err := s.Nodes(ctx, "t1", 8, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 1 || len(nodes[0]) != 32 {
			t.Errorf("level-8 nodes = %d, want 1 of 32 bytes", len(nodes))
		}
	})
}

func TestAuditStoreList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuditStore(db)
		var recs []*audit.Record
		for i := range 12 {
			recs = append(recs, auditRecord(t, "t1", i))
		}
		recs = append(recs, auditRecord(t, "t2", 0))
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		seqs := func(rs []audit.Record) []int64 {
			out := []int64{}
			for _, r := range rs {
				out = append(out, r.Seq)
			}
			return out
		}
		base := recs[0].Time
		tests := []struct {
			name string
			f    audit.Filter
			want []int64
		}{
			{"all, newest first", audit.Filter{}, []int64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
			{"limit", audit.Filter{Limit: 3}, []int64{12, 11, 10}},
			{"cursor", audit.Filter{Limit: 3, BeforeSeq: 10}, []int64{9, 8, 7}},
			{"session", audit.Filter{SessionID: "sess-1"}, []int64{11, 8, 5, 2}},
			{"tool and decision", audit.Filter{Tool: "read_file", Decision: "deny"}, []int64{12, 10, 8, 6, 4, 2}},
			{"source none", audit.Filter{Source: audit.SourceApproval}, []int64{}},
			{"action", audit.Filter{ActionID: "act-4"}, []int64{5}},
			{"time range", audit.Filter{Since: base.Add(3 * time.Second), Until: base.Add(6 * time.Second)}, []int64{6, 5, 4}},
		}
		for _, tt := range tests {
			got, err := s.List(ctx, "t1", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, seqs(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		}
		got, err := s.List(ctx, "t1", audit.Filter{ActionID: "act-3"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]audit.Record{*recs[3]}, got); diff != "" {
			t.Errorf("listed record (-want +got):\n%s", diff)
		}
	})
}

func TestAuditStoreCheckpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuditStore(db)
		if _, err := s.LatestCheckpoint(ctx, "t1"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Fatalf("latest checkpoint of empty log: got %v, want not found", err)
		}
		at := time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC)
		c5 := audit.Checkpoint{TenantID: "t1", Size: 5, Root: audit.Hash{5}, Note: "five\n", Created: at}
		c9 := audit.Checkpoint{TenantID: "t1", Size: 9, Root: audit.Hash{9}, Note: "nine\n", Created: at}
		for _, c := range []audit.Checkpoint{c9, c5, c9} { // the second c9 is a no-op
			if err := s.SaveCheckpoint(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		latest, err := s.LatestCheckpoint(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c9, latest); diff != "" {
			t.Errorf("latest (-want +got):\n%s", diff)
		}
		all, err := s.Checkpoints(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]audit.Checkpoint{c5, c9}, all); diff != "" {
			t.Errorf("all (-want +got):\n%s", diff)
		}
		got, err := s.CheckpointAt(ctx, "t1", 5)
		if err != nil || got.Note != "five\n" {
			t.Errorf("checkpoint at 5 = %+v, %v", got, err)
		}
		if _, err := s.CheckpointAt(ctx, "t1", 6); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("checkpoint at 6: got %v, want not found", err)
		}
	})
}

// The database itself refuses to change or remove audit rows.
func TestAuditTablesAppendOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuditStore(db)
		var recs []*audit.Record
		for i := range 256 { // completes one level-8 node
			recs = append(recs, auditRecord(t, "t1", i))
		}
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCheckpoint(ctx, audit.Checkpoint{TenantID: "t1", Size: 1, Note: "x\n"}); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{
			`UPDATE audit_log SET decision = 'allow' WHERE seq = 2`,
			`DELETE FROM audit_log WHERE seq = 256`,
			`UPDATE audit_merkle_nodes SET hash = hash`,
			`DELETE FROM audit_merkle_nodes`,
			`UPDATE audit_checkpoints SET tree_size = 2`,
			`DELETE FROM audit_checkpoints`,
		} {
			if _, err := db.Write.ExecContext(ctx, stmt); err == nil {
				t.Errorf("%s: succeeded, want refused", stmt)
			}
		}
		if db.Dialect == sqlstore.Postgres {
			if _, err := db.Write.ExecContext(ctx, `TRUNCATE audit_log`); err == nil {
				t.Error("TRUNCATE audit_log succeeded, want refused")
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil || n != 256 {
			t.Errorf("records after refused changes: %d, %v; want 256", n, err)
		}
	})
}

// Reasons survive storage exactly, whatever characters they hold.
func TestAuditReasonsRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuditStore(db)
		cases := [][]string{
			nil,
			{""},
			{"plain", "two words"},
			{`a","b`, `quote " inside`, `back\slash`},
			{"<b>&</b>", "naïve — ünïcode", "tab\there", "line\nbreak"},
			{"[", "]", `"`, ","},
		}
		var recs []*audit.Record
		for i, rs := range cases {
			r := auditRecord(t, "t1", i)
			r.Reasons = rs
			if err := r.Normalize(); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		i := 0
		err := s.Scan(ctx, "t1", 1, 0, func(r *audit.Record) error {
			if diff := cmp.Diff(cases[i], r.Reasons); diff != "" {
				t.Errorf("reasons %d (-want +got):\n%s", i, diff)
			}
			if r.ComputeHash() != r.Hash {
				t.Errorf("record %d does not verify after the round trip", r.Seq)
			}
			i++
			return nil
		})
		if err != nil || i != len(cases) {
			t.Fatalf("scanned %d records: %v", i, err)
		}
	})
}

// Listing a session's or an action's records uses the partial index made
// for it, on both databases (PostgreSQL with sequential scans switched
// off, since its tables here are small).
func TestAuditListUsesIndexes(t *testing.T) {
	tests := []struct {
		filter audit.Filter
		index  string
	}{
		{audit.Filter{SessionID: "vs-1"}, "audit_log_session"},
		{audit.Filter{SessionID: "vs-1", Source: audit.SourceMCPObserved}, "audit_log_session"},
		{audit.Filter{ActionID: "act-1"}, "audit_log_action"},
	}
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		for _, tt := range tests {
			q, args := sqlstore.AuditListQuery(db.Dialect, "t1", tt.filter)
			var plan strings.Builder
			err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error {
				explain := "EXPLAIN QUERY PLAN "
				if tx.Dialect() == sqlstore.Postgres {
					explain = "EXPLAIN "
					if _, err := tx.ExecContext(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
						return err
					}
				}
				rows, err := tx.QueryContext(t.Context(), explain+q, args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						return err
					}
					fmt.Fprintln(&plan, vals...)
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan.String(), tt.index) {
				t.Errorf("%+v: the plan does not use %s:\n%s", tt.filter, tt.index, plan.String())
			}
		}
	})
}
