package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vargate/vargate/internal/audit"
)

// ChainResult is the outcome of verifying a session's records in the
// tenant's chain: each record's hash over its contents, its link to the
// record before where that one is in the export too, and its inclusion
// proof against the signed checkpoint.
type ChainResult struct {
	Valid bool `json:"valid"`
	// RecordsChecked counts the records that passed every check before
	// the first fault.
	RecordsChecked  int64      `json:"records_checked"`
	FirstInvalidSeq int64      `json:"first_invalid_seq"`
	Reason          string     `json:"reason,omitempty"`
	TreeSize        int64      `json:"tree_size"`
	RootHash        audit.Hash `json:"root_hash"`
	VerifiedAt      time.Time  `json:"verified_at"`
}

// ChainVerification is an export's chain_verification: an audit.Bundle
// (so the file verifies offline with `vargate verify`, which reads the
// bundle from this field), the server's own verification of it, and a
// session checkpoint.
type ChainVerification struct {
	audit.Bundle
	ChainResult
	// SessionCheckpoint is a signed note, made with the audit checkpoint
	// key, stating how many records the session has and the RFC 6962
	// Merkle root of their hashes in seq order: the session's records as
	// a log of their own, with origin "<key name>/<tenant>/sessions/<id>".
	// A bundle with proofs shows that each record it holds is in the
	// tenant's log; this shows that it holds all of the session's
	// records, so dropping one is detected (VerifyExport).
	SessionCheckpoint string `json:"session_checkpoint"`
}

// SessionLog names a session's records as a log of their own: the tenant
// part of a session checkpoint's origin. Tenant IDs hold no "/", so it
// never names a tenant's log.
func SessionLog(tenantID, sessionID string) string { return tenantID + "/sessions/" + sessionID }

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// sessionTree computes the Merkle root of a session's record hashes as
// they stream past, in O(log n) memory.
type sessionTree struct {
	r *compact.Range
}

func newSessionTree() *sessionTree { return &sessionTree{r: rangeFactory.NewEmptyRange(0)} }

func (t *sessionTree) add(h audit.Hash) error { return t.r.Append(audit.LeafHash(h), nil) }

func (t *sessionTree) root() (int64, audit.Hash, error) {
	var root audit.Hash
	if t.r.End() == 0 {
		copy(root[:], rfc6962.DefaultHasher.EmptyRoot())
		return 0, root, nil
	}
	b, err := t.r.GetRootHash(nil)
	if err != nil {
		return 0, root, err
	}
	copy(root[:], b)
	return int64(t.r.End()), root, nil
}

// chainCheck verifies records and their proofs as they stream past, the
// way audit.VerifyBundle does for a bundle with proofs.
type chainCheck struct {
	tenantID string
	size     int64
	root     audit.Hash

	prevSeq  int64
	prevHash audit.Hash
	hashed   int64 // records whose hash and link checked out
	proven   int64 // records whose proof checked out
	bad      bool
	badSeq   int64
	reason   string
}

func (c *chainCheck) fail(seq int64, format string, args ...any) {
	if c.bad {
		return
	}
	c.bad, c.badSeq, c.reason = true, seq, fmt.Sprintf(format, args...)
}

// record checks one record's place, hash and link; records come in seq order.
func (c *chainCheck) record(rec *audit.Record) {
	if c.bad {
		return
	}
	seq := rec.Seq
	switch {
	case rec.TenantID != c.tenantID:
		c.fail(seq, "record %d belongs to tenant %q, not %q", seq, rec.TenantID, c.tenantID)
	case seq <= c.prevSeq:
		c.fail(seq, "record %d is out of order or repeated", seq)
	case seq > c.size:
		c.fail(seq, "record %d is beyond the checkpoint's tree size %d", seq, c.size)
	case rec.ComputeHash() != rec.Hash:
		c.fail(seq, "record %d was altered: its contents do not match its hash", seq)
	case seq == c.prevSeq+1 && rec.PrevHash != c.prevHash:
		c.fail(seq, "record %d does not link to record %d", seq, seq-1)
	default:
		c.prevSeq, c.prevHash = seq, rec.Hash
		c.hashed++
	}
}

// proof checks a record's inclusion proof against the checkpoint.
func (c *chainCheck) proof(rec *audit.Record, p audit.InclusionProof) {
	if c.bad {
		return
	}
	if err := audit.VerifyInclusion(p, rec.Hash, c.root); err != nil {
		c.fail(rec.Seq, "record %d is not in the signed log: %v", rec.Seq, err)
		return
	}
	c.proven++
}

func (c *chainCheck) result(at time.Time) ChainResult {
	r := ChainResult{RecordsChecked: min(c.hashed, c.proven), VerifiedAt: at}
	if c.bad {
		r.FirstInvalidSeq, r.Reason = c.badSeq, c.reason
		return r
	}
	if c.hashed != c.proven {
		r.Reason = fmt.Sprintf("%d records but %d proofs", c.hashed, c.proven)
		return r
	}
	if c.hashed == 0 {
		// An empty bundle reads as a whole log that lost its records.
		r.Reason = "the session has no audit records to verify"
		return r
	}
	r.Valid, r.TreeSize, r.RootHash = true, c.size, c.root
	return r
}

// blockWidth is the number of nodes of one level that a tree block holds:
// the span between two stored node levels.
const blockWidth = 1 << audit.NodeStride

// tree proves records of one tenant's Merkle tree of a fixed size, for
// records asked in seq order. For every stored level (leaves, 8, 16, …)
// it keeps the few blocks of 256 nodes last used, with the levels above
// folded: a proof needs the block of its own record and, near the right
// edge of the tree, the last block, so proving consecutive records costs
// a block read every 256 leaves rather than reads per proof, and memory
// stays constant.
type tree struct {
	st       audit.Store
	tenantID string
	size     int64
	blocks   map[uint][]*treeBlock // by base level, most recent first
}

// blocksPerLevel is how many blocks of each stored level a tree keeps.
const blocksPerLevel = 4

type treeBlock struct {
	index  uint64     // block index at the base level
	levels [][][]byte // levels[0]: nodes at the base level; levels[k]: k levels above
}

func newTree(st audit.Store, tenantID string, size int64) *tree {
	return &tree{st: st, tenantID: tenantID, size: size, blocks: map[uint][]*treeBlock{}}
}

// inclusion returns the inclusion proof of record seq.
func (t *tree) inclusion(ctx context.Context, seq int64) (audit.InclusionProof, error) {
	nodes, err := proof.Inclusion(uint64(seq-1), uint64(t.size))
	if err != nil {
		return audit.InclusionProof{}, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if hashes[i], err = t.node(ctx, id); err != nil {
			return audit.InclusionProof{}, err
		}
	}
	h, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return audit.InclusionProof{}, err
	}
	return audit.InclusionProof{Seq: seq, TreeSize: t.size, Hashes: h}, nil
}

// node returns the hash of a perfect subtree's root.
func (t *tree) node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	base := id.Level - id.Level%audit.NodeStride
	rel := id.Level - base
	bi := (id.Index << rel) / blockWidth
	var b *treeBlock
	cached := t.blocks[base]
	for i, c := range cached {
		if c.index == bi {
			b = c
			copy(cached[1:i+1], cached[:i]) // most recent first
			cached[0] = b
			break
		}
	}
	if b == nil {
		var err error
		if b, err = t.load(ctx, base, bi); err != nil {
			return nil, err
		}
		if len(cached) < blocksPerLevel {
			cached = append(cached, nil)
		}
		copy(cached[1:], cached[:len(cached)-1])
		cached[0] = b
		t.blocks[base] = cached
	}
	off := id.Index - bi*(blockWidth>>rel)
	if int(rel) >= len(b.levels) || off >= uint64(len(b.levels[rel])) {
		return nil, fmt.Errorf("merkle node (%d, %d) of tenant %q is missing", id.Level, id.Index, t.tenantID)
	}
	return b.levels[rel][off], nil
}

// load reads block bi of the base level and folds the levels above it.
func (t *tree) load(ctx context.Context, base uint, bi uint64) (*treeBlock, error) {
	first := bi * blockWidth
	var level [][]byte
	if base == 0 {
		to := min(int64(first+blockWidth), t.size)
		hs, err := t.st.Hashes(ctx, t.tenantID, int64(first)+1, to+1)
		if err != nil {
			return nil, fmt.Errorf("read record hashes: %w", err)
		}
		level = make([][]byte, len(hs))
		for i, h := range hs {
			level[i] = audit.LeafHash(h)
		}
	} else {
		var err error
		if level, err = t.st.Nodes(ctx, t.tenantID, base, first, first+blockWidth); err != nil {
			return nil, fmt.Errorf("read merkle nodes: %w", err)
		}
	}
	b := &treeBlock{index: bi, levels: [][][]byte{level}}
	for len(level) > 1 {
		next := make([][]byte, len(level)/2)
		for i := range next {
			next[i] = rfc6962.DefaultHasher.HashChildren(level[2*i], level[2*i+1])
		}
		b.levels = append(b.levels, next)
		level = next
	}
	return b, nil
}
