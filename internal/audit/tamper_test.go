package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// The tamper suite plays an attacker with write access to the database:
// it drops the append-only triggers, then changes, deletes, swaps, inserts
// or truncates records. The verifier must catch every change and name the
// first record at fault.

// tamperN records per chain, a signed checkpoint every tamperEvery; fewer
// under the race detector.
var tamperN, tamperEvery = func() (int64, int64) {
	if raceEnabled {
		return 150, 30
	}
	return 500, 100
}()

// tamperCase tampers with record k (1 ≤ k ≤ tamperN) and says which seq
// the verifier must name.
type tamperCase struct {
	name   string
	tamper func(t *testing.T, e *tamperEnv, k int64)
	want   func(k int64) int64
	// trusted, if set, returns checkpoints the auditor kept outside the
	// database (taken before the tampering).
	trusted bool
}

type tamperEnv struct {
	db      *sqlstore.DB
	log     *audit.Log
	signer  *audit.Signer
	recs    []audit.Record // as written, recs[i].Seq == i+1
	tenant  string         // the chain this case tampers with
	rng     *rand.Rand
	trusted []string
	want    int64 // set by a tamper whose expected seq depends on its own choices
}

func atK(k int64) int64 { return k }

func tamperCases() []tamperCase {
	var cases []tamperCase
	// Change any single field of a record.
	for _, f := range []struct{ col, set string }{
		{"tenant_id", "tenant_id = 'other-tenant'"},
		{"seq", "seq = seq + 1000000"},
		{"time", "time = time + 1"},
		{"source", "source = source || 'x'"},
		{"session_id", "session_id = session_id || 'x'"},
		{"agent_id", "agent_id = agent_id || 'x'"},
		{"action_id", "action_id = action_id || 'x'"},
		{"tool", "tool = tool || 'x'"},
		{"decision", "decision = decision || 'x'"},
		{"policy_version", "policy_version = policy_version || 'x'"},
		{"decision_id", "decision_id = decision_id || 'x'"},
		{"reasons", `reasons = '["forged"]'`},
		{"args_digest", "args_digest = args_digest || 'x'"},
		{"args_redacted", `args_redacted = '{"amount":1}'`},
		{"args_redacted whitespace only", "args_redacted = ' ' || args_redacted"},
		{"result_digest", "result_digest = result_digest || 'x'"},
		{"anomaly", `anomaly = '{"score":0}'`},
		{"actor", "actor = actor || 'x'"},
		{"detail", `detail = '{"forged":true}'`},
		{"prev_hash", "prev_hash = hash"},
		{"hash", "hash = prev_hash"},
	} {
		cases = append(cases, tamperCase{
			name: "change " + f.col,
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				e.exec(t, `UPDATE audit_log SET `+f.set+` WHERE tenant_id = 't1' AND seq = ?`, k)
			},
			want: atK,
		})
	}
	cases = append(cases,
		tamperCase{
			name: "change a field and recompute that record's hash",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				r := e.recs[k-1].Clone()
				r.Decision = "forged"
				h := r.ComputeHash()
				e.exec(t, `UPDATE audit_log SET decision = ?, hash = ? WHERE tenant_id = 't1' AND seq = ?`, r.Decision, h[:], k)
			},
			want: atK,
		},
		tamperCase{
			name: "rewrite a record and re-link the rest of the chain and its head",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				recs := append([]audit.Record(nil), e.recs...)
				recs[k-1].Tool = "forged"
				e.relink(t, recs, k)
			},
			// Only the signed checkpoints catch this; the verifier names
			// the first record after the last checkpoint that still holds.
			want: func(k int64) int64 { return (k-1)/tamperEvery*tamperEvery + 1 },
		},
		tamperCase{
			name: "delete a record",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				e.exec(t, `DELETE FROM audit_log WHERE tenant_id = 't1' AND seq = ?`, k)
			},
			want: atK,
		},
		tamperCase{
			name: "delete a record and renumber the rest",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				e.exec(t, `DELETE FROM audit_log WHERE tenant_id = 't1' AND seq = ?`, k)
				e.shift(t, k+1, -1)
				e.exec(t, `UPDATE audit_heads SET seq = seq - 1 WHERE tenant_id = 't1'`)
			},
			want: atK,
		},
		tamperCase{
			name: "swap two records",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				j := k
				for j == k {
					j = 1 + e.rng.Int64N(tamperN)
				}
				e.exec(t, `UPDATE audit_log SET seq = -1 WHERE tenant_id = 't1' AND seq = ?`, j)
				e.exec(t, `UPDATE audit_log SET seq = ? WHERE tenant_id = 't1' AND seq = ?`, j, k)
				e.exec(t, `UPDATE audit_log SET seq = ? WHERE tenant_id = 't1' AND seq = -1`, k)
				e.want = min(j, k)
			},
		},
		tamperCase{
			name: "insert a forged record, correctly linked and hashed, and renumber the rest",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				forged := e.recs[k-1].Clone()
				forged.ActionID = "forged"
				forged.Decision = "approved"
				forged.Hash = forged.ComputeHash()
				e.shift(t, k, +1)
				e.insert(t, forged)
			},
			want: atK,
		},
		tamperCase{
			name: "insert a forged record with a made-up hash",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				forged := e.recs[k-1].Clone()
				forged.ActionID = "forged"
				forged.Hash = audit.Hash{0xde, 0xad}
				e.shift(t, k, +1)
				e.insert(t, forged)
			},
			want: atK,
		},
		tamperCase{
			name: "truncate the tail",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				e.exec(t, `DELETE FROM audit_log WHERE tenant_id = 't1' AND seq >= ?`, k)
			},
			want: atK,
		},
		tamperCase{
			name: "truncate the tail and rewrite the chain head to match",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				e.exec(t, `DELETE FROM audit_log WHERE tenant_id = 't1' AND seq >= ?`, k)
				e.relink(t, e.recs[:k-1], k) // re-derives the head only
			},
			want: atK, // caught against the last signed checkpoint
		},
		tamperCase{
			name: "truncate the tail, rewrite the head and delete the checkpoints past it",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				e.dropTriggers(t, "audit_checkpoints")
				e.exec(t, `DELETE FROM audit_log WHERE tenant_id = 't1' AND seq >= ?`, k)
				e.exec(t, `DELETE FROM audit_checkpoints WHERE tenant_id = 't1' AND tree_size >= ?`, k)
				e.relink(t, e.recs[:k-1], k)
			},
			want:    atK, // caught only against a checkpoint the auditor kept
			trusted: true,
		},
		tamperCase{
			name: "append a forged record past the chain head",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				forged := e.recs[tamperN-1].Clone()
				forged.Seq = tamperN + 1
				forged.PrevHash = e.recs[tamperN-1].Hash
				forged.Decision = "approved"
				forged.Hash = forged.ComputeHash()
				e.insert(t, forged)
			},
			want: func(int64) int64 { return tamperN + 1 },
		},
		tamperCase{
			name: "store a checkpoint signed with another key",
			tamper: func(t *testing.T, e *tamperEnv, k int64) {
				other := newSigner(t)
				root := e.recs[k-1].Hash // any root will do
				note, err := other.SignCheckpoint(e.tenant, k, root)
				if err != nil {
					t.Fatal(err)
				}
				e.dropTriggers(t, "audit_checkpoints")
				e.exec(t, `DELETE FROM audit_checkpoints WHERE tenant_id = 't1' AND tree_size = ?`, k)
				e.exec(t, `INSERT INTO audit_checkpoints (tenant_id, tree_size, root_hash, note, created_at) VALUES ('t1', ?, ?, ?, 0)`, k, root[:], note)
			},
			want: func(int64) int64 { return 0 }, // the fault is in a checkpoint, not a record
		},
	)
	return cases
}

func isTruncation(name string) bool { return strings.HasPrefix(name, "truncate the tail") }

// TestTamper runs every tamper case at a random record on both databases.
func TestTamper(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("VARGATE_TAMPER_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("random seed %d (set VARGATE_TAMPER_SEED to repeat)", seed)

	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		rng := rand.New(rand.NewPCG(seed, uint64(len(db.Dialect))))
		tdb := newTamperDB(t, db)
		for i, tc := range tamperCases() {
			k := 1 + rng.Int64N(tamperN)
			if isTruncation(tc.name) {
				k = tamperN - 1 - rng.Int64N(tamperEvery/5)
			}
			t.Run(tc.name, func(t *testing.T) { tdb.run(t, fmt.Sprintf("t%02d", i), rng, tc, k) })
		}
	})
}

// TestTamperEdges runs every tamper case at the first and the last record.
func TestTamperEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("the random positions of TestTamper suffice in short mode")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tdb := newTamperDB(t, storetest.Open(t, sqlstore.SQLite))
	for _, k := range []int64{1, tamperN} {
		for i, tc := range tamperCases() {
			t.Run(fmt.Sprintf("%s at %d", tc.name, k), func(t *testing.T) { tdb.run(t, fmt.Sprintf("k%d-%02d", k, i), rng, tc, k) })
		}
	}
}

// tamperDB is one database shared by the tamper cases, each of which
// tampers with a tenant of its own.
type tamperDB struct {
	db     *sqlstore.DB
	log    *audit.Log
	signer *audit.Signer
}

// newTamperDB opens the log over db, writes an "untouched" tenant's chain
// and drops the append-only triggers, as an attacker would.
func newTamperDB(t *testing.T, db *sqlstore.DB) *tamperDB {
	t.Helper()
	tdb := &tamperDB{db: db, signer: newSigner(t)}
	tdb.log = openLog(t, db, tdb.signer)
	fill(t, tdb.log, db, "untouched", 10, 10)
	e := &tamperEnv{db: db}
	e.dropTriggers(t, "audit_log")
	e.dropTriggers(t, "audit_checkpoints")
	return tdb
}

func (tdb *tamperDB) run(t *testing.T, tenant string, rng *rand.Rand, tc tamperCase, k int64) {
	ctx := t.Context()
	e := &tamperEnv{db: tdb.db, log: tdb.log, signer: tdb.signer, tenant: tenant, rng: rng}
	e.recs = fill(t, e.log, e.db, tenant, int(tamperN), int(tamperEvery))
	if tc.trusted {
		c, err := e.log.Store.LatestCheckpoint(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		e.trusted = []string{c.Note}
	}
	before, err := e.log.Verify(ctx, tenant)
	if err != nil || !before.Valid {
		t.Fatalf("before tampering: %+v, %v", before, err)
	}
	if par, err := audit.VerifyWith(ctx, e.log.Store, e.signer.Verifier(), tenant, 16, 37); err != nil || par != before {
		t.Fatalf("before tampering, in parallel: %+v, %v; sequential %+v", par, err, before)
	}
	tc.tamper(t, e, k)
	want := e.want
	if tc.want != nil {
		want = tc.want(k)
	}
	res, err := audit.VerifyWith(ctx, e.log.Store, e.signer.Verifier(), tenant, 1, 1, e.trusted...)
	if err != nil {
		t.Fatal(err)
	}
	// Workers over ranges of a few dozen records, stitched, must reach
	// exactly the sequential pass's verdict.
	pers := []int64{37, 100, 171}
	if testing.Short() {
		pers = pers[:1]
	}
	for _, per := range pers {
		par, err := audit.VerifyWith(ctx, e.log.Store, e.signer.Verifier(), tenant, 16, per, e.trusted...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(res, par); diff != "" {
			t.Errorf("parallel verification (%d per worker) differs from sequential (-seq +par):\n%s", per, diff)
		}
	}
	if res.Valid || res.FirstInvalidSeq != want {
		t.Errorf("tampered at %d: valid=%v first_invalid_seq=%d, want invalid at %d (%s)", k, res.Valid, res.FirstInvalidSeq, want, res.Reason)
	} else {
		t.Logf("k=%d: %s", k, res.Reason)
	}
	// The other chains in the database are untouched and still verify.
	if res, err := e.log.Verify(ctx, "untouched"); err != nil || !res.Valid {
		t.Errorf("untouched tenant: %+v, %v", res, err)
	}
}

// exec runs query with the case's tenant in place of the literal 't1'.
func (e *tamperEnv) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	query = strings.ReplaceAll(query, "'t1'", "'"+e.tenant+"'")
	err := e.db.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), query, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (e *tamperEnv) dropTriggers(t *testing.T, table string) {
	t.Helper()
	if e.db.Dialect == sqlstore.Postgres {
		e.exec(t, `DROP TRIGGER IF EXISTS `+table+`_append_only ON `+table)
		return
	}
	e.exec(t, `DROP TRIGGER IF EXISTS `+table+`_no_update`)
	e.exec(t, `DROP TRIGGER IF EXISTS `+table+`_no_delete`)
}

// shift renumbers records from seq on by delta, going through negative
// numbers so that UNIQUE (tenant_id, seq) never trips midway.
func (e *tamperEnv) shift(t *testing.T, from, delta int64) {
	t.Helper()
	e.exec(t, `UPDATE audit_log SET seq = -seq WHERE tenant_id = 't1' AND seq >= ?`, from)
	e.exec(t, `UPDATE audit_log SET seq = -seq + ? WHERE tenant_id = 't1' AND seq < 0`, delta)
}

func (e *tamperEnv) insert(t *testing.T, r audit.Record) {
	t.Helper()
	var reasons []byte
	if len(r.Reasons) > 0 {
		var err error
		if reasons, err = json.Marshal(r.Reasons); err != nil {
			t.Fatal(err)
		}
	}
	e.exec(t, `INSERT INTO audit_log (tenant_id, seq, time, source, session_id, agent_id, action_id, tool, decision,
		policy_version, decision_id, reasons, args_digest, args_redacted, result_digest, anomaly, actor, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.TenantID, r.Seq, sqlstore.Micros(r.Time), string(r.Source), r.SessionID, r.AgentID, r.ActionID, r.Tool, r.Decision,
		r.PolicyVersion, r.DecisionID, nullText(reasons), r.ArgsDigest, nullText(r.ArgsRedacted), r.ResultDigest, nullText(r.Anomaly),
		r.Actor, nullText(r.Detail), r.PrevHash[:], r.Hash[:])
}

func nullText(b []byte) sql.NullString { return sql.NullString{String: string(b), Valid: len(b) > 0} }

// relink rewrites records from seq k on with recomputed hashes and links,
// as an attacker who knows the encoding would, and rewrites the chain head
// (including its Merkle state) to match recs.
func (e *tamperEnv) relink(t *testing.T, recs []audit.Record, k int64) {
	t.Helper()
	head := audit.Head{TenantID: e.tenant}
	for i := range recs {
		r := recs[i].Clone()
		if _, err := head.Seal(&r); err != nil {
			t.Fatal(err)
		}
		if r.Seq >= k {
			e.exec(t, `UPDATE audit_log SET tool = ?, prev_hash = ?, hash = ? WHERE tenant_id = 't1' AND seq = ?`, r.Tool, r.PrevHash[:], r.Hash[:], r.Seq)
		}
	}
	e.exec(t, `UPDATE audit_heads SET seq = ?, hash = ?, merkle = ? WHERE tenant_id = 't1'`, head.Seq, head.Hash[:], head.MarshalRange())
}
