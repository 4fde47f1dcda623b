package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/httpapi"
)

// newAuditAPI is the API with 25 governed calls in acme's audit trail
// (sessions sess-0 and sess-1, allowed and denied by turns) and one
// control-plane record in globex's.
func newAuditAPI(t *testing.T) *api {
	t.Helper()
	ctx := t.Context()
	e := newAPI(t, apiOptions{})
	l := e.log
	at := time.Date(2026, 4, 11, 9, 0, 0, 0, time.UTC)
	for i := range 25 {
		_, err := l.Append(ctx, audit.Record{
			TenantID: e.tids["acme"], Time: at.Add(time.Duration(i) * time.Minute), Source: audit.SourceMCPGoverned,
			SessionID: fmt.Sprintf("sess-%d", i%2), ActionID: fmt.Sprintf("act-%d", i), Tool: "send_email",
			Decision: []string{"allow", "deny"}[i%2], ArgsRedacted: json.RawMessage(`{"to":"<redacted>"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(ctx, audit.Record{TenantID: e.tids["globex"], Time: at, Source: audit.SourceControlPlane, Actor: "key-g"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAuditRoutesAccess(t *testing.T) {
	e := newAuditAPI(t)
	paths := []string{"/audit", "/audit/verify", "/audit/checkpoint", "/audit/proof/inclusion?seq=1",
		"/audit/proof/consistency?from=1", "/audit/bundle", "/api/audit"}
	for _, path := range paths {
		for role, want := range map[string]int{"admin": 200, "approver": 200, "auditor": 200, "agent": 403} {
			if got := e.do(t, "acme/"+role, "GET", path, "", nil).status; got != want {
				t.Errorf("GET %s as %s: %d, want %d", path, role, got, want)
			}
		}
		if got := e.do(t, "vgk_nonsense", "GET", path, "", nil).status; got != http.StatusUnauthorized {
			t.Errorf("GET %s without a valid key: %d, want 401", path, got)
		}
	}
}

func TestAuditList(t *testing.T) {
	e := newAuditAPI(t)
	key := "acme/auditor"
	// Walk every page; each record appears once, newest first.
	var seqs []int64
	path := "/audit?limit=4"
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		var page httpapi.AuditListResponse
		if code := e.do(t, key, "GET", path, "", &page).status; code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		for _, r := range page.Records {
			seqs = append(seqs, r.Seq)
		}
		path = ""
		if page.NextCursor != "" {
			path = "/audit?limit=4&cursor=" + page.NextCursor
		}
	}
	if len(seqs) != 25 {
		t.Fatalf("walked %d records, want 25", len(seqs))
	}
	for i, s := range seqs {
		if s != int64(25-i) {
			t.Fatalf("page order: position %d has seq %d, want %d", i, s, 25-i)
		}
	}

	var page httpapi.AuditListResponse
	e.do(t, key, "GET", "/audit?session_id=sess-1&decision=deny&since=2026-04-11T09:10:00Z&until=2026-04-11T09:20:00Z", "", &page)
	var got []int64
	for _, r := range page.Records {
		got = append(got, r.Seq)
		if r.SessionID != "sess-1" || r.Decision != "deny" {
			t.Errorf("filtered record %+v", r)
		}
	}
	if fmt.Sprint(got) != "[20 18 16 14 12]" {
		t.Errorf("filtered seqs = %v, want [20 18 16 14 12]", got)
	}
	// Another tenant sees only its own trail.
	e.do(t, "globex/auditor", "GET", "/audit", "", &page)
	if page.Count != 1 || page.Records[0].TenantID != e.tids["globex"] {
		t.Errorf("globex sees %d records: %+v", page.Count, page.Records)
	}
	for _, bad := range []string{"limit=0", "limit=abc", "cursor=x", "source=direct", "since=yesterday"} {
		if code := e.do(t, key, "GET", "/audit?"+bad, "", nil).status; code != http.StatusUnprocessableEntity {
			t.Errorf("GET /audit?%s: %d, want 422", bad, code)
		}
	}
}

func TestAuditVerifyCheckpointProofs(t *testing.T) {
	e := newAuditAPI(t)
	key := "acme/auditor"
	var res audit.VerifyResult
	e.do(t, key, "GET", "/audit/verify", "", &res)
	if !res.Valid || res.RecordsChecked != 25 || res.FirstInvalidSeq != 0 {
		t.Errorf("verify = %+v", res)
	}

	var cp httpapi.AuditCheckpointResponse
	e.do(t, key, "GET", "/audit/checkpoint", "", &cp)
	v, err := audit.NewVerifier(cp.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	body, err := v.Open(e.tids["acme"], cp.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if body.Size != 25 || cp.TreeSize != 25 || cp.RootHash != body.Root {
		t.Errorf("checkpoint: size %d/%d", body.Size, cp.TreeSize)
	}

	for _, seq := range []int64{1, 13, 25} {
		var p httpapi.AuditInclusionResponse
		if code := e.do(t, key, "GET", "/audit/proof/inclusion?seq="+strconv.FormatInt(seq, 10), "", &p).status; code != 200 {
			t.Fatalf("inclusion of %d: %d", seq, code)
		}
		if p.Checkpoint != cp.Checkpoint {
			t.Errorf("inclusion of %d came with another checkpoint", seq)
		}
		if err := audit.VerifyInclusion(p.InclusionProof, p.RecordHash, body.Root); err != nil {
			t.Errorf("inclusion of %d: %v", seq, err)
		}
	}
	if code := e.do(t, key, "GET", "/audit/proof/inclusion?seq=26", "", nil).status; code != http.StatusUnprocessableEntity {
		t.Errorf("inclusion of a record beyond the log: %d, want 422", code)
	}
	if code := e.do(t, key, "GET", "/audit/proof/inclusion", "", nil).status; code != http.StatusUnprocessableEntity {
		t.Errorf("inclusion without seq: %d, want 422", code)
	}

	// Grow the log, take a second checkpoint, prove the first is a prefix.
	if _, err := e.log.Append(t.Context(), audit.Record{TenantID: e.tids["acme"], Source: audit.SourceApproval, ActionID: "act-3", Decision: "approved"}); err != nil {
		t.Fatal(err)
	}
	var cp2 httpapi.AuditCheckpointResponse
	e.do(t, key, "GET", "/audit/checkpoint", "", &cp2)
	body2, err := v.Open(e.tids["acme"], cp2.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	var cons httpapi.AuditConsistencyResponse
	if code := e.do(t, key, "GET", "/audit/proof/consistency?from=25&to=26", "", &cons).status; code != 200 {
		t.Fatalf("consistency: %d", code)
	}
	if cons.FromCheckpoint != cp.Checkpoint || cons.ToCheckpoint != cp2.Checkpoint {
		t.Error("consistency proof did not name the stored checkpoints")
	}
	if err := audit.VerifyConsistency(cons.ConsistencyProof, body.Root, body2.Root); err != nil {
		t.Errorf("consistency 25→26: %v", err)
	}

	// The bundle verifies offline with the key from /audit/checkpoint.
	for _, q := range []string{"", "?session_id=sess-0"} {
		b, err := audit.DecodeBundle(e.do(t, key, "GET", "/audit/bundle"+q, "", nil).raw)
		if err != nil {
			t.Fatal(err)
		}
		if res := audit.VerifyBundle(b, v); !res.Valid {
			t.Errorf("bundle%s: %+v", q, res)
		}
	}
}
