package audit

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// InclusionProof proves that record Seq is leaf Seq-1 of the tenant's tree
// of TreeSize leaves (RFC 6962 §2.1.1 audit path, leaf data = record hash).
type InclusionProof struct {
	Seq      int64    `json:"seq"`
	TreeSize int64    `json:"tree_size"`
	Hashes   [][]byte `json:"hashes"`
}

// ConsistencyProof proves that the tree of From leaves is a prefix of the
// tree of To leaves (RFC 6962 §2.1.2).
type ConsistencyProof struct {
	From   int64    `json:"from"`
	To     int64    `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// VerifyInclusion checks p for a record with hash leaf against root.
func VerifyInclusion(p InclusionProof, leaf Hash, root Hash) error {
	if p.Seq < 1 || p.Seq > p.TreeSize {
		return fmt.Errorf("inclusion proof for seq %d in a tree of %d", p.Seq, p.TreeSize)
	}
	return proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.Seq-1), uint64(p.TreeSize), LeafHash(leaf), p.Hashes, root[:])
}

// VerifyConsistency checks p between two roots.
func VerifyConsistency(p ConsistencyProof, from, to Hash) error {
	if p.From < 0 || p.From > p.To {
		return fmt.Errorf("consistency proof from %d to %d", p.From, p.To)
	}
	if p.From == 0 {
		return nil // the empty tree is a prefix of every tree
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(p.From), uint64(p.To), p.Hashes, from[:], to[:])
}

// nodeReader returns the hash of a perfect subtree's root.
type nodeReader interface {
	node(ctx context.Context, id compact.NodeID) ([]byte, error)
}

func proofHashes(ctx context.Context, r nodeReader, nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := r.node(ctx, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

func inclusionProof(ctx context.Context, r nodeReader, seq, size int64) (InclusionProof, error) {
	nodes, err := proof.Inclusion(uint64(seq-1), uint64(size))
	if err != nil {
		return InclusionProof{}, err
	}
	h, err := proofHashes(ctx, r, nodes)
	if err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{Seq: seq, TreeSize: size, Hashes: h}, nil
}

func consistencyProof(ctx context.Context, r nodeReader, from, to int64) (ConsistencyProof, error) {
	nodes, err := proof.Consistency(uint64(from), uint64(to))
	if err != nil {
		return ConsistencyProof{}, err
	}
	h, err := proofHashes(ctx, r, nodes)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if h == nil {
		h = [][]byte{}
	}
	return ConsistencyProof{From: from, To: to, Hashes: h}, nil
}

// storeNodes reads nodes from a Store: stored nodes at NodeStride levels,
// anything between computed from at most 2^(NodeStride-1) hashes of the
// stride level below.
type storeNodes struct {
	st       Store
	tenantID string
}

func (s storeNodes) node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	base := id.Level - id.Level%NodeStride
	if base == id.Level && base > 0 {
		hs, err := s.st.Nodes(ctx, s.tenantID, id.Level, id.Index, id.Index+1)
		if err != nil {
			return nil, err
		}
		if len(hs) != 1 {
			return nil, fmt.Errorf("merkle node (%d, %d) of tenant %q is missing", id.Level, id.Index, s.tenantID)
		}
		return hs[0], nil
	}
	width := uint64(1) << (id.Level - base)
	first := id.Index << (id.Level - base)
	var hashes [][]byte
	if base == 0 {
		hs, err := s.st.Hashes(ctx, s.tenantID, int64(first)+1, int64(first+width)+1)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			hashes = append(hashes, LeafHash(h))
		}
	} else {
		var err error
		if hashes, err = s.st.Nodes(ctx, s.tenantID, base, first, first+width); err != nil {
			return nil, err
		}
	}
	if uint64(len(hashes)) != width {
		return nil, fmt.Errorf("merkle subtree (%d, %d) of tenant %q: %d of %d hashes present", id.Level, id.Index, s.tenantID, len(hashes), width)
	}
	return foldPerfect(hashes), nil
}

// foldPerfect returns the root of a perfect subtree given its 2^k lowest
// nodes, left to right. It overwrites hashes.
func foldPerfect(hashes [][]byte) []byte {
	for n := len(hashes); n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			hashes[i] = rfc6962.DefaultHasher.HashChildren(hashes[2*i], hashes[2*i+1])
		}
	}
	return hashes[0]
}

// memTree is a whole tree in memory, level by level, for proving many
// leaves at once (export bundles).
type memTree struct{ levels [][][]byte }

func newMemTree(leaves []Hash) *memTree {
	t := &memTree{}
	level := make([][]byte, len(leaves))
	for i, h := range leaves {
		level[i] = LeafHash(h)
	}
	t.levels = append(t.levels, level)
	for len(level) > 1 {
		next := make([][]byte, len(level)/2)
		for i := range next {
			next[i] = rfc6962.DefaultHasher.HashChildren(level[2*i], level[2*i+1])
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

func (t *memTree) node(_ context.Context, id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
		return nil, fmt.Errorf("merkle node (%d, %d) outside the tree", id.Level, id.Index)
	}
	return t.levels[id.Level][id.Index], nil
}
