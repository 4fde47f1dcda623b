package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// VerifyResult is the outcome of checking a chain or a bundle.
type VerifyResult struct {
	Valid    bool   `json:"valid"`
	TenantID string `json:"tenant_id"`
	// RecordsChecked counts the records that passed before the first fault.
	RecordsChecked int64 `json:"records_checked"`
	// FirstInvalidSeq is the first record at fault; 0 when the log is
	// valid or the fault is outside the records (a checkpoint or the
	// chain head).
	FirstInvalidSeq int64 `json:"first_invalid_seq"`
	// Reason explains the fault in words an auditor can act on.
	Reason string `json:"reason,omitempty"`
	// CheckpointsChecked counts the signed checkpoints whose root was
	// recomputed from the records and matched.
	CheckpointsChecked int `json:"checkpoints_checked"`
	// TreeSize and Root describe the log as verified (when Valid).
	TreeSize int64 `json:"tree_size"`
	Root     Hash  `json:"root_hash"`
}

func (r *VerifyResult) fail(seq int64, format string, args ...any) VerifyResult {
	r.Valid = false
	r.FirstInvalidSeq = seq
	r.Reason = fmt.Sprintf(format, args...)
	r.TreeSize, r.Root = 0, Hash{}
	return *r
}

var errStopScan = errors.New("stop scan")

type signedSize struct {
	size int64
	root Hash
	what string // "stored checkpoint" or "trusted checkpoint"
}

// Verify checks tenantID's whole chain in st: that sequence numbers run
// 1, 2, … without gaps or repeats, that each record's hash matches its
// contents and links to the record before, that the Merkle root at the
// size of every signed checkpoint (those stored, and trusted ones the
// auditor kept, as signed notes) matches, that no signed checkpoint is
// larger than the log (tail truncation), and that the chain head agrees
// with the last record. It reads the records in one streaming pass. The
// error is for I/O failures only; a bad log is a VerifyResult.
func Verify(ctx context.Context, st Store, v *Verifier, tenantID string, trusted ...string) (VerifyResult, error) {
	res := VerifyResult{TenantID: tenantID}
	checks, bad, err := signedSizes(ctx, st, v, tenantID, trusted)
	if err != nil {
		return res, err
	}
	if bad != "" {
		return res.fail(0, "%s", bad), nil
	}
	head, err := st.Head(ctx, tenantID)
	if err != nil {
		return res, err
	}

	var (
		hs        hasher
		expected  int64 = 1
		prev      Hash  // hash of record expected-1
		prevPrev  Hash  // hash of record expected-2
		r         = rangeFactory.NewEmptyRange(0)
		next      = 0   // index into checks
		vouchedTo int64 // records 1..vouchedTo match a signed checkpoint
		// rootMismatch describes a checkpoint whose root differs, pending
		// the next record's link check.
		rootMismatch string
	)
	// A checkpoint of the empty tree needs no records.
	for next < len(checks) && checks[next].size == 0 {
		if root, _ := rangeRoot(0, nil); root != checks[next].root {
			return res.fail(0, "%s of the empty tree has a wrong root", checks[next].what), nil
		}
		next++
		res.CheckpointsChecked++
	}
	err = st.Scan(ctx, tenantID, 1, 0, func(rec *Record) error {
		seq := rec.Seq
		switch {
		case seq > expected:
			res.fail(expected, "record %d is missing: the record after %d is %d", expected, expected-1, seq)
			return errStopScan
		case seq < expected:
			res.fail(seq, "record %d appears more than once", seq)
			return errStopScan
		}
		h := hs.sum(rec)
		if h != rec.Hash {
			first, reason := diagnoseHash(rec, prevPrev)
			res.fail(first, "%s", reason)
			return errStopScan
		}
		if rec.PrevHash != prev {
			if seq == 1 {
				res.fail(1, "record 1 does not start the chain: its prev_hash is not zero")
			} else if vouchedTo >= seq-1 {
				res.fail(seq, "record %d does not link to record %d (which a signed checkpoint vouches for): record %d was forged", seq, seq-1, seq)
			} else {
				res.fail(seq-1, "record %d does not link to record %d: record %d was altered and its hash recomputed, or record %d was forged", seq, seq-1, seq-1, seq)
			}
			return errStopScan
		}
		// A root mismatch found at the previous record is reported only now,
		// after this record's link to it checked out: had the previous
		// record been altered and re-hashed, the link check names it exactly.
		if rootMismatch != "" {
			res.fail(vouchedTo+1, "%s", rootMismatch)
			return errStopScan
		}
		if err := r.Append(LeafHash(h), nil); err != nil {
			return err
		}
		for next < len(checks) && checks[next].size == seq {
			root, err := r.GetRootHash(nil)
			if err != nil {
				return err
			}
			if !equalRoot(checks[next].root, root) {
				rootMismatch = fmt.Sprintf("the merkle root of records 1..%d does not match the %s: a record in %d..%d was rewritten and the chain re-linked after it",
					seq, checks[next].what, vouchedTo+1, seq)
				break
			}
			vouchedTo = seq
			next++
			res.CheckpointsChecked++
		}
		prevPrev, prev = prev, h
		res.RecordsChecked++
		expected++
		return nil
	})
	if errors.Is(err, errStopScan) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("verify audit chain of tenant %q: %w", tenantID, err)
	}
	n := expected - 1
	// Signed evidence first: a checkpoint larger than the log.
	if len(checks) > 0 && checks[len(checks)-1].size > n {
		c := checks[len(checks)-1]
		return res.fail(n+1, "tail truncated: the %s covers %d records but the log ends at %d", c.what, c.size, n), nil
	}
	if head.Seq == n && n > 0 && head.Hash != prev {
		return res.fail(n, "the chain head's hash differs from record %d's: record %d was altered and its hash recomputed, or the head was", n, n), nil
	}
	if rootMismatch != "" {
		return res.fail(vouchedTo+1, "%s", rootMismatch), nil
	}
	switch {
	case head.Seq > n:
		return res.fail(n+1, "tail truncated: the chain head counts %d records but the log ends at %d", head.Seq, n), nil
	case head.Seq < n:
		return res.fail(head.Seq+1, "records %d..%d lie beyond the chain head (%d): appended outside the gateway", head.Seq+1, n, head.Seq), nil
	case head.Hash != prev:
		return res.fail(0, "the chain head's hash is not zero for an empty log"), nil
	}
	root, err := rangeRoot(uint64(n), r.Hashes())
	if err != nil {
		return res, err
	}
	if headRoot, err := head.Root(); err != nil || headRoot != root {
		return res.fail(0, "the chain head's merkle state differs from the records' tree"), nil
	}
	res.Valid = true
	res.TreeSize, res.Root = n, root
	return res, nil
}

// diagnoseHash explains why rec's contents do not match its hash,
// recognising the traces that inserting or deleting a record and
// renumbering the rest leave behind.
func diagnoseHash(rec *Record, prevPrev Hash) (int64, string) {
	seq := rec.Seq
	if seq > 1 && rec.PrevHash == prevPrev {
		return seq - 1, fmt.Sprintf("record %d was inserted: record %d (renumbered from %d) links to record %d", seq-1, seq, seq-1, seq-2)
	}
	moved := *rec
	moved.Seq = seq + 1
	if moved.ComputeHash() == rec.Hash {
		return seq, fmt.Sprintf("record %d was deleted and the records after it renumbered: record %d was written as %d", seq, seq, seq+1)
	}
	return seq, fmt.Sprintf("record %d was altered: its contents do not match its hash", seq)
}

// signedSizes collects the checkpoints to check the log against, sorted
// by size. bad describes a checkpoint that fails on its own.
func signedSizes(ctx context.Context, st Store, v *Verifier, tenantID string, trusted []string) ([]signedSize, string, error) {
	cps, err := st.Checkpoints(ctx, tenantID)
	if err != nil {
		return nil, "", err
	}
	var out []signedSize
	for _, c := range cps {
		body, err := v.Open(tenantID, c.Note)
		if err != nil {
			return nil, fmt.Sprintf("stored checkpoint at tree size %d: %v", c.Size, err), nil
		}
		if body.Size != c.Size || body.Root != c.Root {
			return nil, fmt.Sprintf("stored checkpoint at tree size %d: its columns differ from its signed note", c.Size), nil
		}
		out = append(out, signedSize{body.Size, body.Root, fmt.Sprintf("stored checkpoint of size %d", body.Size)})
	}
	for i, t := range trusted {
		body, err := v.Open(tenantID, t)
		if err != nil {
			return nil, fmt.Sprintf("trusted checkpoint %d: %v", i+1, err), nil
		}
		out = append(out, signedSize{body.Size, body.Root, fmt.Sprintf("trusted checkpoint of size %d", body.Size)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].size < out[j].size })
	for i := 1; i < len(out); i++ {
		if out[i].size == out[i-1].size && out[i].root != out[i-1].root {
			return nil, fmt.Sprintf("two signed checkpoints of size %d state different roots: the log forked", out[i].size), nil
		}
	}
	return out, "", nil
}
