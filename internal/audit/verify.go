package audit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/sync/errgroup"
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

// verifyChunk is the fewest records a verification worker takes on: below
// it, starting another worker costs more than it saves.
const verifyChunk = 1 << 16

// Verify checks tenantID's whole chain in st: that sequence numbers run
// 1, 2, … without gaps or repeats, that each record's hash matches its
// contents and links to the record before, that the Merkle root at the
// size of every signed checkpoint (those stored, and trusted ones the
// auditor kept, as signed notes) matches, that no signed checkpoint is
// larger than the log (tail truncation), and that the chain head agrees
// with the last record. The error is for I/O failures only; a bad log is
// a VerifyResult.
//
// Large logs are read in contiguous ranges by one worker per CPU, each a
// streaming pass; the ranges are then stitched together (links across
// range boundaries, Merkle roots at checkpoints), so the result is exactly
// that of one sequential pass.
func Verify(ctx context.Context, st Store, v *Verifier, tenantID string, trusted ...string) (VerifyResult, error) {
	return verify(ctx, st, v, tenantID, trusted, runtime.GOMAXPROCS(0), verifyChunk)
}

// failure is a fault found while reading records, ordered by where a
// sequential pass would have stopped: at record position at, after that
// record's own checks when late is set.
type failure struct {
	at      int64
	late    bool
	seq     int64 // the FirstInvalidSeq to report
	reason  string
	link    bool // a broken link whose blame depends on a checkpoint at at-1
	checked int64
}

func (f *failure) before(g *failure) bool {
	if g == nil {
		return true
	}
	return f.at < g.at || (f.at == g.at && !f.late && g.late)
}

// snapshot is a worker's compact Merkle range at a checkpoint size.
type snapshot struct {
	size   int64
	hashes [][]byte
}

// chunk is one worker's share of the log and what it found there.
type chunk struct {
	begin, end int64 // owned seqs [begin, end]

	fail     *failure
	last     int64 // last owned seq that passed (begin-1 if none)
	lastHash Hash  // its hash
	hashes   [][]byte
	snaps    []snapshot
}

func verify(ctx context.Context, st Store, v *Verifier, tenantID string, trusted []string, workers int, perWorker int64) (VerifyResult, error) {
	res := VerifyResult{TenantID: tenantID}
	checks, bad, err := signedSizes(ctx, st, v, tenantID, trusted)
	if err != nil {
		return res, err
	}
	if bad != "" {
		return res.fail(0, "%s", bad), nil
	}
	// The log is verified as of this head: records appended while the
	// workers read are left for the next verification.
	head, last, err := st.HeadAndLastSeq(ctx, tenantID)
	if err != nil {
		return res, err
	}
	// A checkpoint of the empty tree needs no records.
	empty, _ := rangeRoot(0, nil)
	for _, c := range checks {
		if c.size == 0 && c.root != empty {
			return res.fail(0, "%s of the empty tree has a wrong root", c.what), nil
		}
	}

	var chunks []*chunk
	if n := head.Seq; n > 0 {
		w := max(1, min(int64(workers), n/max(perWorker, 1)))
		chunks = make([]*chunk, w)
		for i := range chunks {
			chunks[i] = &chunk{begin: 1 + n*int64(i)/w, end: n * int64(i+1) / w}
		}
		sizes := make([]int64, 0, len(checks))
		for _, c := range checks {
			sizes = append(sizes, c.size)
		}
		g, gctx := errgroup.WithContext(ctx)
		for _, c := range chunks {
			g.Go(func() error { return c.scan(gctx, st, tenantID, sizes) })
		}
		if err := g.Wait(); err != nil {
			return res, fmt.Errorf("verify audit chain of tenant %q: %w", tenantID, err)
		}
	}
	return stitch(res, chunks, checks, head, last)
}

// scan reads the chunk's records, and the two before it for context, and
// checks each on its own and against the one before.
func (c *chunk) scan(ctx context.Context, st Store, tenantID string, sizes []int64) error {
	var (
		hs       hasher
		expected = c.begin
		prev     Hash // hash of record expected-1
		prevPrev Hash // hash of record expected-2
		r        = rangeFactory.NewEmptyRange(uint64(c.begin - 1))
		next     = sort.Search(len(sizes), func(i int) bool { return sizes[i] >= c.begin })
	)
	c.last = c.begin - 1
	err := st.Scan(ctx, tenantID, max(1, c.begin-2), c.end, func(rec *Record) error {
		seq := rec.Seq
		if seq < c.begin {
			// Context: the previous worker checks these records.
			prevPrev, prev = prev, rec.Hash
			return nil
		}
		stop := func(f failure) error {
			f.checked = expected - 1
			c.fail = &f
			return errStopScan
		}
		switch {
		case seq > expected:
			return stop(failure{at: expected, seq: expected, reason: fmt.Sprintf("record %d is missing", expected)})
		case seq < expected:
			return stop(failure{at: expected, seq: seq, reason: fmt.Sprintf("record %d appears more than once", seq)})
		}
		h := hs.sum(rec)
		if h != rec.Hash {
			first, reason := diagnoseHash(rec, prevPrev)
			return stop(failure{at: seq, seq: first, reason: reason})
		}
		if rec.PrevHash != prev {
			if seq == 1 {
				return stop(failure{at: 1, seq: 1, reason: "record 1 does not start the chain: its prev_hash is not zero"})
			}
			return stop(failure{at: seq, link: true})
		}
		if err := r.Append(LeafHash(h), nil); err != nil {
			return err
		}
		for next < len(sizes) && sizes[next] == seq {
			c.snaps = append(c.snaps, snapshot{size: seq, hashes: slices.Clone(r.Hashes())})
			next++
		}
		prevPrev, prev = prev, h
		c.last, c.lastHash = seq, h
		expected++
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return err
	}
	c.hashes = r.Hashes()
	return nil
}

// stitch joins the chunks in order into the result a single sequential
// pass over the log gives.
func stitch(res VerifyResult, chunks []*chunk, checks []signedSize, head Head, last int64) (VerifyResult, error) {
	// The first fault in the records; a chunk that stops short of its end
	// while a later one has records leaves a gap.
	var first *failure
	for i, c := range chunks {
		if c.fail != nil {
			first = c.fail
			break
		}
		if c.last < c.end && slices.ContainsFunc(chunks[i+1:], func(d *chunk) bool { return d.last >= d.begin || d.fail != nil }) {
			first = &failure{at: c.last + 1, seq: c.last + 1, reason: fmt.Sprintf("record %d is missing", c.last+1), checked: c.last}
			break
		}
	}
	// n is where the records end if none is at fault: the last chunk
	// that reached past its start.
	var n int64
	var lastHash Hash
	for _, c := range chunks {
		if c.last >= c.begin {
			n, lastHash = c.last, c.lastHash
		}
		if c.last < c.end {
			break
		}
	}

	// Merkle roots at the checkpoints, in order, from the chunks' ranges.
	prefix := rangeFactory.NewEmptyRange(0)
	matched := make([]bool, len(checks))
	var rootFault *failure
	var vouchedTo int64
	ci := 0
	for len(checks) > 0 && checks[ci].size == 0 {
		matched[ci] = true
		if ci++; ci == len(checks) {
			break
		}
	}
walk:
	for _, c := range chunks {
		for _, sn := range c.snaps {
			if first != nil && sn.size >= first.at {
				break walk
			}
			root, err := joinRoot(prefix, c.begin-1, sn)
			if err != nil {
				return res, err
			}
			for ci < len(checks) && checks[ci].size == sn.size {
				if checks[ci].root != root {
					rootFault = &failure{at: sn.size + 1, late: true, seq: vouchedTo + 1, checked: sn.size,
						reason: fmt.Sprintf("the merkle root of records 1..%d does not match the %s: a record in %d..%d was rewritten and the chain re-linked after it",
							sn.size, checks[ci].what, vouchedTo+1, sn.size)}
					break walk
				}
				matched[ci] = true
				vouchedTo = sn.size
				ci++
			}
		}
		if c.last < c.end {
			break
		}
		part, err := rangeFactory.NewRange(uint64(c.begin-1), uint64(c.last), c.hashes)
		if err != nil {
			return res, err
		}
		if err := prefix.AppendRange(part, nil); err != nil {
			return res, err
		}
	}
	if first != nil && first.link {
		e := first.at
		// Blame the record before unless a signed checkpoint vouches for it.
		if vouchedTo >= e-1 {
			first.seq, first.reason = e, fmt.Sprintf("record %d does not link to record %d (which a signed checkpoint vouches for): record %d was forged", e, e-1, e)
		} else {
			first.seq, first.reason = e-1, fmt.Sprintf("record %d does not link to record %d: record %d was altered and its hash recomputed, or record %d was forged", e, e-1, e-1, e)
		}
	}
	fault := first
	if rootFault != nil && rootFault.before(fault) && (first != nil || rootFault.checked < n) {
		fault = rootFault
	}
	if fault != nil {
		res.RecordsChecked = fault.checked
		res.CheckpointsChecked = countMatched(checks, matched, fault.checked)
		return res.fail(fault.seq, "%s", fault.reason), nil
	}

	// The end of the log: signed evidence first.
	res.RecordsChecked = n
	res.CheckpointsChecked = countMatched(checks, matched, n)
	if len(checks) > 0 && checks[len(checks)-1].size > n {
		c := checks[len(checks)-1]
		return res.fail(n+1, "tail truncated: the %s covers %d records but the log ends at %d", c.what, c.size, n), nil
	}
	if head.Seq == n && n > 0 && head.Hash != lastHash {
		return res.fail(n, "the chain head's hash differs from record %d's: record %d was altered and its hash recomputed, or the head was", n, n), nil
	}
	if rootFault != nil {
		return res.fail(rootFault.seq, "%s", rootFault.reason), nil
	}
	switch {
	case head.Seq > n:
		return res.fail(n+1, "tail truncated: the chain head counts %d records but the log ends at %d", head.Seq, n), nil
	case last > head.Seq:
		return res.fail(head.Seq+1, "records %d..%d lie beyond the chain head (%d): written outside the gateway", head.Seq+1, last, head.Seq), nil
	case head.Hash != lastHash:
		return res.fail(0, "the chain head's hash is not zero for an empty log"), nil
	}
	root, err := rangeRoot(uint64(n), prefix.Hashes())
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

// joinRoot returns the root of the tree made of prefix followed by a
// chunk's snapshot range, which starts at leaf begin.
func joinRoot(prefix *compact.Range, begin int64, sn snapshot) (Hash, error) {
	joined, err := rangeFactory.NewRange(0, prefix.End(), slices.Clone(prefix.Hashes()))
	if err != nil {
		return Hash{}, err
	}
	part, err := rangeFactory.NewRange(uint64(begin), uint64(sn.size), sn.hashes)
	if err != nil {
		return Hash{}, err
	}
	if err := joined.AppendRange(part, nil); err != nil {
		return Hash{}, err
	}
	return rangeRoot(uint64(sn.size), joined.Hashes())
}

func countMatched(checks []signedSize, matched []bool, upTo int64) int {
	n := 0
	for i, c := range checks {
		if matched[i] && c.size <= upTo {
			n++
		}
	}
	return n
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
