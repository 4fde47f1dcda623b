package audit

import (
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// NodeStride is the level spacing of the Merkle nodes a store keeps: the
// roots of complete subtrees at levels 8, 16, 24, … (256, 65,536, … leaves).
// With them any node of the tree is at most 128 stored hashes away, so an
// inclusion or consistency proof costs a few small reads rather than a
// pass over the whole log.
const NodeStride = 8

// Head is the state of a tenant's chain after its last record: what the
// store keeps in one row per tenant and locks while appending.
type Head struct {
	TenantID string
	// Seq is the sequence number of the last record; 0 for an empty chain.
	Seq int64
	// Hash is the hash of record Seq (zero for an empty chain).
	Hash Hash
	// Range is the compact Merkle range over leaves [0, Seq): the roots of
	// the perfect subtrees that cover the tree, left to right.
	Range [][]byte
}

// Node is a stored Merkle node: the root of the complete subtree at
// (Level, Index) of a tenant's tree.
type Node struct {
	Level uint
	Index uint64
	Hash  []byte
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// LeafHash returns the RFC 6962 leaf hash of a record: the record's Hash
// is the leaf data, so the leaf hash is SHA-256(0x00 || Hash).
func LeafHash(h Hash) []byte { return rfc6962.DefaultHasher.HashLeaf(h[:]) }

// Seal makes rec the next record of the chain: it sets Seq, PrevHash and
// Hash, advances h, and returns the Merkle nodes at NodeStride levels that
// the new leaf completed (to be stored with the record). rec must be
// normalized. Seal overwrites whatever Seq, PrevHash and Hash rec had, so
// a retried transaction can seal the same record again.
func (h *Head) Seal(rec *Record) ([]Node, error) {
	if rec.TenantID != h.TenantID {
		return nil, fmt.Errorf("seal: record of tenant %q on chain of tenant %q", rec.TenantID, h.TenantID)
	}
	r, err := rangeFactory.NewRange(0, uint64(h.Seq), h.Range)
	if err != nil {
		return nil, fmt.Errorf("seal: chain head of tenant %q: %w", h.TenantID, err)
	}
	rec.Seq = h.Seq + 1
	rec.PrevHash = h.Hash
	rec.Hash = rec.ComputeHash()
	var nodes []Node
	err = r.Append(LeafHash(rec.Hash), func(id compact.NodeID, hash []byte) {
		if id.Level > 0 && id.Level%NodeStride == 0 {
			nodes = append(nodes, Node{Level: id.Level, Index: id.Index, Hash: hash})
		}
	})
	if err != nil {
		return nil, err
	}
	h.Seq, h.Hash, h.Range = rec.Seq, rec.Hash, r.Hashes()
	return nodes, nil
}

// Root returns the Merkle root of the tree of h.Seq leaves.
func (h *Head) Root() (Hash, error) {
	return rangeRoot(uint64(h.Seq), h.Range)
}

func rangeRoot(size uint64, hashes [][]byte) (Hash, error) {
	var root Hash
	if size == 0 {
		copy(root[:], rfc6962.DefaultHasher.EmptyRoot())
		return root, nil
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return root, err
	}
	b, err := r.GetRootHash(nil)
	if err != nil {
		return root, err
	}
	copy(root[:], b)
	return root, nil
}

// MarshalRange returns h.Range as the concatenation of its hashes, the
// form a store keeps it in.
func (h *Head) MarshalRange() []byte {
	b := make([]byte, 0, 32*len(h.Range))
	for _, x := range h.Range {
		b = append(b, x...)
	}
	return b
}

// UnmarshalRange sets h.Range from the stored form. Whether it has the
// shape a tree of h.Seq leaves needs is checked when it is used (Seal,
// Root), so that a damaged head can still be read and reported by Verify.
func (h *Head) UnmarshalRange(b []byte) error {
	if len(b)%32 != 0 {
		return fmt.Errorf("chain head of tenant %q: merkle range of %d bytes", h.TenantID, len(b))
	}
	h.Range = nil
	for i := 0; i < len(b); i += 32 {
		h.Range = append(h.Range, append([]byte(nil), b[i:i+32]...))
	}
	return nil
}
