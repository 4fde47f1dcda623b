package audit

import (
	"context"
	"fmt"

	"github.com/vargate/vargate"
)

// AppendAll appends recs in their order and waits for them: each joins
// the group commit after the one before it, so their seqs follow the
// order of recs (records of other appenders may fall in between), while
// they still share commits. errs[i] is the error of recs[i], nil once it
// is committed; out[i] is the record as committed. A record that fails
// Normalize is refused alone (a KindInvalid error); the others go on.
func (l *Log) AppendAll(ctx context.Context, recs []Record) (out []Record, errs []error) {
	out = make([]Record, len(recs))
	errs = make([]error, len(recs))
	reqs := make([]*appendReq, len(recs))
	for i, rec := range recs {
		if rec.Time.IsZero() {
			rec.Time = l.Now()
		}
		rec.Seq, rec.PrevHash, rec.Hash = 0, Hash{}, Hash{}
		if err := rec.Normalize(); err != nil {
			errs[i] = err
			continue
		}
		req := &appendReq{rec: rec, errc: make(chan error, 1)}
		l.mu.RLock()
		if l.closed || !l.opened {
			l.mu.RUnlock()
			errs[i] = vargate.Errorf(vargate.KindUnavailable, "audit log is closed")
			continue
		}
		select {
		case l.reqs <- req:
			reqs[i] = req
		case <-ctx.Done():
			errs[i] = fmt.Errorf("audit append: %w", ctx.Err())
		}
		l.mu.RUnlock()
	}
	for i, req := range reqs {
		if req == nil {
			continue
		}
		select {
		case err := <-req.errc:
			if err != nil {
				errs[i] = err
				continue
			}
			out[i] = req.rec
		case <-ctx.Done():
			errs[i] = fmt.Errorf("audit append (outcome unknown): %w", ctx.Err())
		}
	}
	return out, errs
}
