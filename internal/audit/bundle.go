package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vargate/vargate"
)

// BundleFormat names the version of the Bundle layout.
const BundleFormat = "vargate.audit.bundle.v1"

// Bundle is audit evidence that verifies offline, without trusting the
// server: records, a signed checkpoint, and either the whole log up to the
// checkpoint (Proofs empty: the verifier recomputes the tree) or a
// selection of records with one inclusion proof each.
//
// A whole bundle proves the log is complete up to the checkpoint. A
// selective bundle proves that each record it holds is in the signed log,
// not that it holds every record a filter would match.
type Bundle struct {
	Format   string `json:"format"`
	TenantID string `json:"tenant_id"`
	// PublicKey is the note verifier key the server signs with. It is
	// informational: the verifier must trust a key it got elsewhere.
	PublicKey  string           `json:"public_key"`
	Checkpoint string           `json:"checkpoint"`
	Records    []Record         `json:"records"`
	Proofs     []InclusionProof `json:"proofs,omitempty"`
}

// proofsInMemory is the selection size from which Bundle builds the whole
// tree in memory rather than reading each proof's nodes from the store.
const proofsInMemory = 32

// Bundle exports tenantID's evidence as of a fresh checkpoint. A zero
// Filter (Limit and BeforeSeq are ignored) exports the whole log; any
// other exports the records it matches, with inclusion proofs.
func (l *Log) Bundle(ctx context.Context, tenantID string, f Filter) (Bundle, error) {
	c, err := l.Checkpoint(ctx, tenantID)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{Format: BundleFormat, TenantID: tenantID, PublicKey: l.PublicKey(), Checkpoint: c.Note, Records: []Record{}}
	f.Limit, f.BeforeSeq = 0, 0
	if f == (Filter{}) {
		err := l.Store.Scan(ctx, tenantID, 1, c.Size, func(rec *Record) error {
			b.Records = append(b.Records, rec.Clone())
			return nil
		})
		if err != nil {
			return Bundle{}, fmt.Errorf("export audit records: %w", err)
		}
		if int64(len(b.Records)) != c.Size {
			return Bundle{}, vargate.Errorf(vargate.KindInternal, "audit log of tenant %q has %d records up to checkpoint size %d; run `vargate audit verify`", tenantID, len(b.Records), c.Size)
		}
		return b, nil
	}
	f.Limit = MaxListLimit
	f.BeforeSeq = c.Size + 1
	for {
		page, err := l.Store.List(ctx, tenantID, f)
		if err != nil {
			return Bundle{}, fmt.Errorf("export audit records: %w", err)
		}
		b.Records = append(b.Records, page...)
		if len(page) < f.Limit {
			break
		}
		f.BeforeSeq = page[len(page)-1].Seq
	}
	slices.Reverse(b.Records)
	var nodes nodeReader = storeNodes{l.Store, tenantID}
	if len(b.Records) >= proofsInMemory {
		leaves, err := l.Store.Hashes(ctx, tenantID, 1, c.Size+1)
		if err != nil {
			return Bundle{}, fmt.Errorf("export audit proofs: %w", err)
		}
		nodes = newMemTree(leaves)
	}
	b.Proofs = make([]InclusionProof, len(b.Records))
	for i, rec := range b.Records {
		if b.Proofs[i], err = inclusionProof(ctx, nodes, rec.Seq, c.Size); err != nil {
			return Bundle{}, fmt.Errorf("export audit proofs: %w", err)
		}
	}
	return b, nil
}

// DecodeBundle reads a bundle from JSON: either a Bundle itself or a
// document (such as a compliance export) that carries one in its
// top-level field "chain_verification".
func DecodeBundle(data []byte) (Bundle, error) {
	var outer struct {
		ChainVerification json.RawMessage `json:"chain_verification"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return Bundle{}, fmt.Errorf("read bundle: %w", err)
	}
	if len(outer.ChainVerification) > 0 {
		data = outer.ChainVerification
	}
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return Bundle{}, fmt.Errorf("read bundle: %w", err)
	}
	if b.Format != BundleFormat {
		return Bundle{}, fmt.Errorf("read bundle: format %q, want %q", b.Format, BundleFormat)
	}
	return b, nil
}

// VerifyBundle checks b offline against a public key the auditor trusts:
// the checkpoint's signature, each record's hash over its contents, the
// links between consecutive records, and that every record is in the
// signed tree (by recomputing the root from a whole log, or by each
// record's inclusion proof).
func VerifyBundle(b Bundle, v *Verifier) VerifyResult {
	res := VerifyResult{TenantID: b.TenantID}
	if b.Format != BundleFormat {
		return res.fail(0, "bundle format %q, want %q", b.Format, BundleFormat)
	}
	if b.PublicKey != "" && b.PublicKey != v.PublicKey() {
		return res.fail(0, "the bundle says it was signed by %q, not by the key given", b.PublicKey)
	}
	cp, err := v.Open(b.TenantID, b.Checkpoint)
	if err != nil {
		return res.fail(0, "%v", err)
	}
	withProofs := len(b.Proofs) > 0
	if withProofs && len(b.Proofs) != len(b.Records) {
		return res.fail(0, "bundle has %d records but %d proofs", len(b.Records), len(b.Proofs))
	}
	r := rangeFactory.NewEmptyRange(0)
	var prevSeq int64
	var prevHash Hash
	for i := range b.Records {
		rec := b.Records[i]
		seq := rec.Seq
		if rec.TenantID != b.TenantID {
			return res.fail(seq, "record %d belongs to tenant %q, not %q", seq, rec.TenantID, b.TenantID)
		}
		// Re-canonicalise JSON fields: the bundle's transport may have
		// re-encoded them (whitespace, escaping) without changing them.
		if err := rec.Normalize(); err != nil {
			return res.fail(seq, "record %d: %v", seq, err)
		}
		switch {
		case seq <= prevSeq:
			return res.fail(seq, "record %d is out of order or repeated", seq)
		case seq > cp.Size:
			return res.fail(seq, "record %d is beyond the checkpoint's tree size %d", seq, cp.Size)
		case !withProofs && seq != prevSeq+1:
			return res.fail(prevSeq+1, "record %d is missing", prevSeq+1)
		}
		h := rec.ComputeHash()
		if h != rec.Hash {
			return res.fail(seq, "record %d was altered: its contents do not match its hash", seq)
		}
		if seq == prevSeq+1 && rec.PrevHash != prevHash {
			if seq == 1 {
				return res.fail(1, "record 1 does not start the chain: its prev_hash is not zero")
			}
			return res.fail(seq, "record %d does not link to record %d", seq, seq-1)
		}
		if withProofs {
			p := b.Proofs[i]
			if p.Seq != seq || p.TreeSize != cp.Size {
				return res.fail(seq, "proof %d is for record %d in a tree of %d, want record %d in %d", i, p.Seq, p.TreeSize, seq, cp.Size)
			}
			if err := VerifyInclusion(p, h, cp.Root); err != nil {
				return res.fail(seq, "record %d is not in the signed log: %v", seq, err)
			}
		} else if err := r.Append(LeafHash(h), nil); err != nil {
			return res.fail(seq, "%v", err)
		}
		prevSeq, prevHash = seq, h
		res.RecordsChecked++
	}
	if !withProofs {
		if prevSeq != cp.Size {
			return res.fail(prevSeq+1, "tail truncated: the checkpoint covers %d records but the bundle ends at %d", cp.Size, prevSeq)
		}
		root, err := rangeRoot(uint64(cp.Size), r.Hashes())
		if err != nil {
			return res.fail(0, "%v", err)
		}
		if root != cp.Root {
			return res.fail(1, "the merkle root of the records does not match the signed checkpoint: a record was rewritten and the chain re-linked")
		}
	}
	res.Valid = true
	res.CheckpointsChecked = 1
	res.TreeSize, res.Root = cp.Size, cp.Root
	return res
}
