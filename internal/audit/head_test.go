package audit_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vargate/vargate/internal/audit"
)

// SealAll over a batch is Seal over each of its records: the same
// records, nodes, head and root, built here with the Merkle library's own
// RFC 6962 hasher.
func TestSealAllIsSeal(t *testing.T) {
	one, all := audit.Head{TenantID: "t1"}, audit.Head{TenantID: "t1"}
	ref := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	var oneNodes, allNodes []audit.Node
	seq := 0
	for _, size := range []int{1, 2, 61, 64, 128, 255, 1, 300} {
		var singles, batch []*audit.Record
		for range size {
			r := governed("t1", seq)
			if seq%3 == 0 {
				r = event("t1", seq)
			}
			seq++
			if err := r.Normalize(); err != nil {
				t.Fatal(err)
			}
			c := r.Clone()
			singles, batch = append(singles, &r), append(batch, &c)
		}
		for _, r := range singles {
			ns, err := one.Seal(r)
			if err != nil {
				t.Fatal(err)
			}
			oneNodes = append(oneNodes, ns...)
			if err := ref.Append(rfc6962.DefaultHasher.HashLeaf(r.Hash[:]), nil); err != nil {
				t.Fatal(err)
			}
		}
		ns, err := all.SealAll(batch)
		if err != nil {
			t.Fatal(err)
		}
		allNodes = append(allNodes, ns...)
		for i := range batch {
			if singles[i].Seq != batch[i].Seq || singles[i].PrevHash != batch[i].PrevHash || singles[i].Hash != batch[i].Hash {
				t.Fatalf("record %d: sealed alone %d %s %s, in a batch %d %s %s", i, singles[i].Seq, singles[i].PrevHash, singles[i].Hash,
					batch[i].Seq, batch[i].PrevHash, batch[i].Hash)
			}
			if singles[i].ComputeHash() != singles[i].Hash {
				t.Fatalf("record %d: hash is not ComputeHash", i)
			}
		}
	}
	if diff := cmp.Diff(one, all); diff != "" {
		t.Errorf("heads differ (-Seal +SealAll):\n%s", diff)
	}
	if diff := cmp.Diff(oneNodes, allNodes); diff != "" || len(allNodes) != 3 {
		t.Errorf("%d nodes, want 3; (-Seal +SealAll):\n%s", len(allNodes), diff)
	}
	root, err := all.Root()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root[:], want) {
		t.Errorf("root %x, RFC 6962 reference %x", root, want)
	}
	if !bytes.Equal(audit.LeafHash(root), rfc6962.DefaultHasher.HashLeaf(root[:])) {
		t.Error("LeafHash is not RFC 6962's")
	}
}

// A seal that fails leaves the head as it was.
func TestSealAllFailsWhole(t *testing.T) {
	var h audit.Head
	h.TenantID = "t1"
	for i := range 5 {
		r := event("t1", i)
		if err := r.Normalize(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Seal(&r); err != nil {
			t.Fatal(err)
		}
	}
	before := audit.Head{TenantID: h.TenantID, Seq: h.Seq, Hash: h.Hash}
	for _, x := range h.Range {
		before.Range = append(before.Range, bytes.Clone(x))
	}
	a, b := event("t1", 5), event("t2", 6)
	if _, err := h.SealAll([]*audit.Record{&a, &b}); err == nil {
		t.Fatal("sealed a record of another tenant")
	}
	if diff := cmp.Diff(before, h); diff != "" {
		t.Errorf("head changed by a failed seal:\n%s", diff)
	}
}
