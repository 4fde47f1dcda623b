package audit_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func TestProofs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		signer := newSigner(t)
		l := openLog(t, db, signer)
		// Checkpoints at 1, 256, 257, 300, 555: sizes at, just past and
		// between the stored level-8 subtrees.
		var recs []audit.Record
		for _, n := range []int{1, 255, 1, 43, 255} {
			recs = append(recs, fill(t, l, db, "t1", n, n)...)
		}
		cps, err := l.Store.Checkpoints(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) != 5 {
			t.Fatalf("%d checkpoints, want 5", len(cps))
		}
		roots := map[int64]audit.Hash{}
		for _, c := range cps {
			body, err := signer.Verifier().Open("t1", c.Note)
			if err != nil {
				t.Fatal(err)
			}
			roots[body.Size] = body.Root
		}
		for _, c := range cps {
			for _, seq := range []int64{1, 2, c.Size / 2, c.Size - 1, c.Size, 128, 129, 256, 257} {
				if seq < 1 || seq > c.Size {
					continue
				}
				p, cp, err := l.InclusionProof(ctx, "t1", seq, c.Size)
				if err != nil {
					t.Fatalf("inclusion of %d in %d: %v", seq, c.Size, err)
				}
				if cp.Size != c.Size {
					t.Errorf("inclusion proof came with checkpoint of size %d, want %d", cp.Size, c.Size)
				}
				if err := audit.VerifyInclusion(p, recs[seq-1].Hash, roots[c.Size]); err != nil {
					t.Errorf("inclusion of %d in %d does not verify: %v", seq, c.Size, err)
				}
				if other := recs[seq%c.Size]; c.Size > 1 {
					if err := audit.VerifyInclusion(p, other.Hash, roots[c.Size]); err == nil {
						t.Errorf("inclusion proof of %d verifies record %d too", seq, other.Seq)
					}
				}
			}
			for _, d := range cps {
				if d.Size < c.Size {
					continue
				}
				p, err := l.ConsistencyProof(ctx, "t1", c.Size, d.Size)
				if err != nil {
					t.Fatalf("consistency %d→%d: %v", c.Size, d.Size, err)
				}
				if err := audit.VerifyConsistency(p, roots[c.Size], roots[d.Size]); err != nil {
					t.Errorf("consistency %d→%d does not verify: %v", c.Size, d.Size, err)
				}
				if c.Size != d.Size {
					if err := audit.VerifyConsistency(p, audit.Hash{1}, roots[d.Size]); err == nil {
						t.Errorf("consistency %d→%d verifies a wrong old root", c.Size, d.Size)
					}
				}
			}
		}
		// Size 0 means the latest checkpoint, made fresh when needed.
		more := fill(t, nil, db, "t1", 3, 3)
		p, cp, err := l.InclusionProof(ctx, "t1", more[2].Seq, 0)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != 558 || p.TreeSize != 558 {
			t.Fatalf("proof against latest = size %d, checkpoint %d; want a fresh checkpoint of 558", p.TreeSize, cp.Size)
		}
		body, err := signer.Verifier().Open("t1", cp.Note)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(p, more[2].Hash, body.Root); err != nil {
			t.Error(err)
		}
		if _, _, err := l.InclusionProof(ctx, "t1", 559, 0); err == nil {
			t.Error("proof of a record beyond the log succeeded")
		}
		if _, err := l.ConsistencyProof(ctx, "t1", 10, 9999); err == nil {
			t.Error("consistency to a size beyond the log succeeded")
		}
	})
}

// A tree past 65,536 leaves uses stored level-16 nodes.
func TestProofsLargeTree(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fills 66,000 records (minutes under the race detector)")
	}
	db := storetest.Open(t, sqlstore.SQLite)
	ctx := t.Context()
	signer := newSigner(t)
	l := openLog(t, db, signer)
	recs := fill(t, nil, db, "t1", 65536, 8192)
	c1, err := l.Checkpoint(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, fill(t, nil, db, "t1", 464, 464)...)
	c, err := l.Checkpoint(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{1, 256, 65536, 65537, 65999, 66000} {
		p, _, err := l.InclusionProof(ctx, "t1", seq, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(p, recs[seq-1].Hash, c.Root); err != nil {
			t.Errorf("inclusion of %d: %v", seq, err)
		}
	}
	p, err := l.ConsistencyProof(ctx, "t1", 65536, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyConsistency(p, c1.Root, c.Root); err != nil {
		t.Errorf("consistency 65536→66000: %v", err)
	}
	res, err := l.Verify(ctx, "t1")
	if err != nil || !res.Valid || res.CheckpointsChecked != 2 {
		t.Fatalf("verify = %+v, %v", res, err)
	}
}

func TestBundle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		signer := newSigner(t)
		l := openLog(t, db, signer)
		fill(t, l, db, "t1", 120, 50)
		fill(t, nil, db, "t2", 5, 5)
		v := signer.Verifier()

		whole, err := l.Bundle(ctx, "t1", audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Records) != 120 || len(whole.Proofs) != 0 {
			t.Fatalf("whole bundle: %d records, %d proofs; want 120, 0", len(whole.Records), len(whole.Proofs))
		}
		if res := audit.VerifyBundle(whole, v); !res.Valid || res.RecordsChecked != 120 || res.TreeSize != 120 {
			t.Errorf("whole bundle: %+v", res)
		}
		session, err := l.Bundle(ctx, "t1", audit.Filter{SessionID: "sess-2"})
		if err != nil {
			t.Fatal(err)
		}
		if len(session.Records) != 24 || len(session.Proofs) != 24 {
			t.Fatalf("session bundle: %d records, %d proofs; want 24 each", len(session.Records), len(session.Proofs))
		}
		if res := audit.VerifyBundle(session, v); !res.Valid || res.RecordsChecked != 24 {
			t.Errorf("session bundle: %+v", res)
		}
		few, err := l.Bundle(ctx, "t1", audit.Filter{ActionID: "act-7"})
		if err != nil {
			t.Fatal(err)
		}
		if res := audit.VerifyBundle(few, v); !res.Valid || res.RecordsChecked != 1 {
			t.Errorf("one-record bundle (proofs from stored nodes): %+v", res)
		}

		// The bundle survives a transport that re-encodes JSON (HTML
		// escaping, indentation) and being embedded in a larger document.
		inner, err := json.Marshal(session)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(inner, []byte(`\u003cb\u003e`)) {
			t.Fatal("test premise: json.Marshal should have escaped the HTML in args_redacted")
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(`{"report":{"x":1},"chain_verification":`+string(inner)+`}`), "", "  "); err != nil {
			t.Fatal(err)
		}
		decoded, err := audit.DecodeBundle(indented.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if res := audit.VerifyBundle(decoded, v); !res.Valid {
			t.Errorf("re-encoded, embedded bundle: %+v", res)
		}

		tests := []struct {
			name    string
			bundle  audit.Bundle
			edit    func(*audit.Bundle)
			wantSeq int64
		}{
			{"altered decision", whole, func(b *audit.Bundle) { b.Records[40].Decision = "forged" }, 41},
			{"altered JSON", whole, func(b *audit.Bundle) { b.Records[9].ArgsRedacted = []byte(`{"amount":1}`) }, 10},
			{"dropped record", whole, func(b *audit.Bundle) { b.Records = append(b.Records[:60], b.Records[61:]...) }, 61},
			{"truncated tail", whole, func(b *audit.Bundle) { b.Records = b.Records[:100] }, 101},
			{"swapped records", whole, func(b *audit.Bundle) { b.Records[3], b.Records[4] = b.Records[4], b.Records[3] }, 4},
			{"rewritten and re-linked", whole, func(b *audit.Bundle) {
				b.Records[50].Tool = "forged"
				prev := b.Records[49].Hash
				for i := 50; i < len(b.Records); i++ {
					if err := b.Records[i].Normalize(); err != nil {
						t.Fatal(err)
					}
					b.Records[i].PrevHash = prev
					b.Records[i].Hash = b.Records[i].ComputeHash()
					prev = b.Records[i].Hash
				}
			}, 1},
			{"selective: altered record", session, func(b *audit.Bundle) { b.Records[2].Actor = "someone" }, session.Records[2].Seq},
			{"selective: forged record with its hash recomputed", session, func(b *audit.Bundle) {
				b.Records[5].Decision = "forged"
				if err := b.Records[5].Normalize(); err != nil {
					t.Fatal(err)
				}
				b.Records[5].Hash = b.Records[5].ComputeHash()
			}, session.Records[5].Seq},
			{"selective: proof of another record", session, func(b *audit.Bundle) { b.Proofs[1] = b.Proofs[2] }, session.Records[1].Seq},
			{"other tenant's checkpoint", whole, func(b *audit.Bundle) { b.TenantID = "t2" }, 0},
			{"forged checkpoint", whole, func(b *audit.Bundle) {
				other, _ := newSigner(t).SignCheckpoint("t1", 120, audit.Hash{})
				b.Checkpoint = other
				b.PublicKey = ""
			}, 0},
		}
		for _, tt := range tests {
			b := cloneBundle(t, tt.bundle)
			tt.edit(&b)
			res := audit.VerifyBundle(b, v)
			if res.Valid || res.FirstInvalidSeq != tt.wantSeq {
				t.Errorf("%s: valid=%v first_invalid_seq=%d (%s), want invalid at %d", tt.name, res.Valid, res.FirstInvalidSeq, res.Reason, tt.wantSeq)
			}
		}
		if res := audit.VerifyBundle(whole, newSigner(t).Verifier()); res.Valid {
			t.Error("bundle verified against a key that did not sign it")
		}
	})
}

func cloneBundle(t *testing.T, b audit.Bundle) audit.Bundle {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out audit.Bundle
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
