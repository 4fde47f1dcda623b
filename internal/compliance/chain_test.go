package compliance_test

import (
	"slices"
	"testing"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/tools"
)

// TestProofsAcrossStoredLevels exports a session whose records are spread
// over a tenant log larger than 65,536 records, so that proofs need
// leaves, stored level-8 and level-16 nodes and the folds between, and
// compares every proof with the audit log's own.
func TestProofsAcrossStoredLevels(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 70,000 records")
	}
	e := newEnv(t)
	s := e.newSession(t, "t1")
	at := e.tick()
	for _, n := range []int{254, 1, 300, 65000, 3, 4000} {
		e.bulk(t, filler("t1", n, at))
		e.call(t, s, tools.WebSearch, `{"query":"q"}`)
	}
	raw := e.export(t, "t1", s.ID)
	doc := decodeDoc(t, raw)
	if res := verifyOffline(t, e, raw); !res.Valid || res.TreeSize < 69000 {
		t.Fatalf("offline: %+v", res)
	}
	cv := doc.ChainVerification
	for i, p := range cv.Proofs {
		want, _, err := e.log.InclusionProof(t.Context(), "t1", cv.Records[i].Seq, cv.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		if p.Seq != want.Seq || p.TreeSize != want.TreeSize || !slices.EqualFunc(p.Hashes, want.Hashes, slices.Equal) {
			t.Errorf("proof of record %d differs from the audit log's", p.Seq)
		}
		if err := audit.VerifyInclusion(p, cv.Records[i].Hash, cv.RootHash); err != nil {
			t.Errorf("record %d: %v", p.Seq, err)
		}
	}
}
