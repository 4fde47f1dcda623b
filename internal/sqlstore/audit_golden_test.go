package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// goldenAuditDigest is the SHA-256 of every stored byte that
// TestAuditStoredBytesGolden's corpus leaves in audit_log, audit_heads and
// audit_merkle_nodes, and of the tree's root (which a checkpoint signs).
// It was computed by the append path as it was before its CPU work was
// cut (commit 74f270e), and is the same on both databases: a change to
// how records are normalised, hashed, sealed or bound that alters a
// single stored byte changes it.
const goldenAuditDigest = "0078054960eaea5599a91b9fa6d05c0c29fc848122134cf24c43746bf7f3b79e"

// goldenRecord is the i-th record of the corpus: every source, outcome
// and field, JSON fields canonical (as the gateway's writers make them)
// and not, strings that encoding/json escapes and strings it does not.
func goldenRecord(tenant string, i int) *audit.Record {
	sources := []audit.Source{audit.SourceMCPGoverned, audit.SourceMCPOutcome, audit.SourceControlPlane,
		audit.SourceApproval, audit.SourceSession, audit.SourceCredential, audit.SourceMCPObserved}
	outcomes := []audit.Outcome{"", audit.OutcomeExecuting, audit.OutcomeExecuted, audit.OutcomeDenied, audit.OutcomeCancelled}
	r := &audit.Record{
		TenantID:  tenant,
		Time:      time.Date(2026, 12, 7, 18, 0, 0, 987654321, time.FixedZone("X", 3600)).Add(time.Duration(i) * 1234567 * time.Nanosecond),
		Source:    sources[i%len(sources)],
		SessionID: fmt.Sprintf("sess-%d", i%4),
		AgentID:   "agent-ü",
		ActionID:  fmt.Sprintf("act-%d", i),
		Tool:      []string{"send_email", "crm.update_contact", "read<file>"}[i%3],
		Actor:     "key-1",
		Outcome:   outcomes[i%len(outcomes)],
	}
	if i%5 != 4 {
		r.Decision, r.PolicyVersion, r.DecisionID = []string{"allow", "deny", "pending"}[i%3], "v9", fmt.Sprintf("dec-%d", i)
		r.ArgsDigest = fmt.Sprintf("jcs-sha256:%064x", i)
	}
	switch i % 6 {
	case 1:
		r.Reasons = []string{"external recipient", `quote " and back\slash`, "<b>&</b> \u2028 naïve\ttab"}
	case 3:
		r.Reasons = []string{"plain"}
	case 5:
		r.Reasons = []string{}
	}
	switch i % 4 {
	case 0: // canonical, as the gateway's writers make them
		r.ArgsRedacted = json.RawMessage(fmt.Sprintf(`{"contact_id":"c-%d","fields":{"email":"[REDACTED:email]","notes":"a\nb <&> é"},"n":%d.5}`, i, i))
		r.Detail = json.RawMessage(fmt.Sprintf(`{"input":{"call":{"arguments":null,"tool":"x"},"session":{"age_seconds":%d.25,"calls":%d}},"latency_us":{"connector":0,"policy":%d,"total":%d}}`, i, i, 90+i%7, 200+i))
	case 1: // not canonical: order, spaces, escapes, numbers
		r.ArgsRedacted = json.RawMessage(fmt.Sprintf(` { "n" : %d.0, "a":"\u00e9\/\u003c" , "big": 1E3 } `, i))
		r.Detail = json.RawMessage(`{"z":[1, 2.50, -0],"a":{"y":true,"x":null}}`)
		r.Anomaly = json.RawMessage(`{"score":2.5e-1,"flags":["burst"]}`)
	case 2:
		r.Detail = json.RawMessage(`null`)
		r.Anomaly = json.RawMessage(`{"flags":[],"score":0.75}`)
	case 3:
		r.ResultDigest = fmt.Sprintf("sha256:%064x", i+1)
		r.Detail = json.RawMessage(fmt.Sprintf(`{"latency_us":{"connector":%d,"policy":%d,"total":%d}}`, 180+i, 95, 420+i))
	}
	return r
}

// TestAuditStoredBytesGolden appends a corpus in batches of the sizes
// that exercise the statement chunking (1, 63, 64, 65, 130, 300 records;
// two tenants, one batch mixing them; Merkle nodes at level 8) and
// compares a digest of everything stored with the one the earlier code
// produced. On SQLite it also checks each column's storage class, which
// the digest cannot see (a string bound as []byte is stored as a BLOB).
func TestAuditStoredBytesGolden(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuditStore(db)
		n := map[string]int{}
		for _, size := range []int{1, 63, 64, 65, 130, 300} {
			var batch []*audit.Record
			for k := range size {
				tenant := "t1"
				if size == 130 && k%3 == 0 {
					tenant = "t0"
				}
				r := goldenRecord(tenant, n[tenant])
				n[tenant]++
				if err := r.Normalize(); err != nil {
					t.Fatal(err)
				}
				batch = append(batch, r)
			}
			if err := s.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		h := sha256.New()
		for _, tenant := range []string{"t0", "t1"} {
			digestRows(t, h, db, `SELECT tenant_id, seq, time, source, session_id, agent_id, action_id, tool, decision,
				policy_version, decision_id, reasons, args_digest, args_redacted, result_digest, anomaly, actor,
				detail, prev_hash, hash, outcome FROM audit_log WHERE tenant_id = ? ORDER BY seq`, tenant)
			digestRows(t, h, db, `SELECT tenant_id, seq, hash, merkle FROM audit_heads WHERE tenant_id = ?`, tenant)
			digestRows(t, h, db, `SELECT tenant_id, level, idx, hash FROM audit_merkle_nodes WHERE tenant_id = ? ORDER BY level, idx`, tenant)
			head, err := s.Head(ctx, tenant)
			if err != nil {
				t.Fatal(err)
			}
			root, err := head.Root()
			if err != nil {
				t.Fatal(err)
			}
			h.Write(root[:])
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != goldenAuditDigest {
			t.Errorf("digest of the stored corpus = %s, want %s", got, goldenAuditDigest)
		}
		if db.Dialect == sqlstore.SQLite {
			checkStorageClasses(t, db)
		}
	})
}

// digestRows writes every column of every row of the query into h, each
// as a NULL marker or its length and bytes.
func digestRows(t *testing.T, h hash.Hash, db *sqlstore.DB, query string, args ...any) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if v == nil {
				h.Write([]byte{0})
				continue
			}
			h.Write(binary.BigEndian.AppendUint32([]byte{1}, uint32(len(v))))
			h.Write(v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// checkStorageClasses checks the SQLite storage class of every audit_log
// column over the corpus.
func checkStorageClasses(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	want := map[string]string{
		"tenant_id": "text", "seq": "integer", "time": "integer", "source": "text", "session_id": "text",
		"agent_id": "text", "action_id": "text", "tool": "text", "decision": "text", "policy_version": "text",
		"decision_id": "text", "reasons": "null,text", "args_digest": "text", "args_redacted": "null,text",
		"result_digest": "text", "anomaly": "null,text", "actor": "text", "detail": "null,text",
		"prev_hash": "blob", "hash": "blob", "outcome": "text",
	}
	for col, classes := range want {
		var got string
		err := db.QueryRowContext(context.Background(), `SELECT group_concat(c, ',') FROM
			(SELECT DISTINCT typeof(`+col+`) AS c FROM audit_log ORDER BY c)`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got != classes {
			t.Errorf("storage classes of %s = %s, want %s", col, got, classes)
		}
	}
}

// The reasons column is what json.Marshal writes, whatever the reasons.
func TestReasonsJSON(t *testing.T) {
	cases := [][]string{{""}, {"a"}, {"a", "b c"}, {"", ""}, {"a,b", "[x]", "{y}"}}
	for c := 0; c < 256; c++ {
		cases = append(cases, []string{"x" + string(rune(c)) + "y"}, []string{"ok", string([]byte{byte(c)})})
	}
	cases = append(cases, []string{"naïve", "\u2028\u2029", "😀"}, []string{"\xff\xfe"})
	for _, rs := range cases {
		want, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sqlstore.ReasonsJSON(rs)
		if err != nil || got != string(want) {
			t.Errorf("ReasonsJSON(%q) = %s, %v; want %s", rs, got, err, want)
		}
	}
}
