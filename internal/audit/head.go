package audit

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

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

var rangeFactory = &compact.RangeFactory{Hash: hashChildren}

// LeafHash returns the RFC 6962 leaf hash of a record: the record's Hash
// is the leaf data, so the leaf hash is SHA-256(0x00 || Hash).
func LeafHash(h Hash) []byte {
	var b [1 + len(h)]byte
	b[0] = rfc6962.RFC6962LeafHashPrefix
	copy(b[1:], h[:])
	sum := sha256.Sum256(b[:])
	return sum[:]
}

// hashChildren is rfc6962.DefaultHasher.HashChildren, SHA-256(0x01 || l
// || r), without its allocations for two 32-byte children.
func hashChildren(l, r []byte) []byte {
	if len(l) != sha256.Size || len(r) != sha256.Size {
		return rfc6962.DefaultHasher.HashChildren(l, r)
	}
	var b [1 + 2*sha256.Size]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[1+sha256.Size:], r)
	sum := sha256.Sum256(b[:])
	return sum[:]
}

// encodeBuffers holds buffers for encoding records to hash them; one
// grown past maxPooledBuffer (a record with huge JSON fields) is dropped.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooledBuffer = 64 << 10

// Seal makes rec the next record of the chain: it sets Seq, PrevHash and
// Hash, advances h, and returns the Merkle nodes at NodeStride levels that
// the new leaf completed (to be stored with the record). rec must be
// normalized. Seal overwrites whatever Seq, PrevHash and Hash rec had, so
// a retried transaction can seal the same record again.
func (h *Head) Seal(rec *Record) ([]Node, error) {
	return h.SealAll([]*Record{rec})
}

// SealAll seals recs onto the chain in order, as Seal on each in turn
// would, and returns the nodes they completed, with one Merkle range and
// one encoding buffer for all of them. On an error h is unchanged.
func (h *Head) SealAll(recs []*Record) ([]Node, error) {
	for _, rec := range recs {
		if rec.TenantID != h.TenantID {
			return nil, fmt.Errorf("seal: record of tenant %q on chain of tenant %q", rec.TenantID, h.TenantID)
		}
	}
	// The range works on a copy of the head's hashes: it edits them in
	// place, and h must stay as it was if the seal fails.
	r, err := rangeFactory.NewRange(0, uint64(h.Seq), slices.Clone(h.Range))
	if err != nil {
		return nil, fmt.Errorf("seal: chain head of tenant %q: %w", h.TenantID, err)
	}
	var nodes []Node
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level > 0 && id.Level%NodeStride == 0 {
			nodes = append(nodes, Node{Level: id.Level, Index: id.Index, Hash: hash})
		}
	}
	seq, prev := h.Seq, h.Hash
	buf := encodeBuffers.Get().(*[]byte)
	hs := hasher{buf: *buf}
	defer func() {
		if cap(hs.buf) <= maxPooledBuffer {
			*buf = hs.buf[:0]
			encodeBuffers.Put(buf)
		}
	}()
	for _, rec := range recs {
		rec.Seq, rec.PrevHash = seq+1, prev
		rec.Hash = hs.sum(rec)
		if err := r.Append(LeafHash(rec.Hash), visit); err != nil {
			return nil, err
		}
		seq, prev = rec.Seq, rec.Hash
	}
	h.Seq, h.Hash, h.Range = seq, prev, r.Hashes()
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
