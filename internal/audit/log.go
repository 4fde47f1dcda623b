package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/vargate/vargate"
)

// Defaults for Log's fields.
const (
	DefaultMaxBatch           = 512
	DefaultQueueSize          = 4096
	DefaultBatchTimeout       = 30 * time.Second
	DefaultLinger             = 500 * time.Microsecond
	DefaultCheckpointInterval = time.Minute
)

// Log key names.
const (
	logKeyTenant  = "tenant_id"
	logKeyRecords = "records"
	logKeyError   = "error"
	logKeySize    = "tree_size"
)

// Log appends records durably through a group-commit writer and serves
// checkpoints and proofs. One background goroutine drains whatever appends
// are waiting into one store transaction, so a burst of concurrent appends
// costs one commit (one fsync) rather than one each.
//
// Set the exported fields between New and Open.
type Log struct {
	Store  Store
	Signer *Signer
	Logger *slog.Logger
	Now    vargate.Clock
	// MaxBatch caps the records committed in one transaction.
	MaxBatch int
	// QueueSize is how many appends may wait for the writer.
	QueueSize int
	// BatchTimeout bounds one batch's transaction.
	BatchTimeout time.Duration
	// Linger is the longest the writer waits for appenders to come back
	// before committing a batch smaller than the last; 0 never waits.
	Linger time.Duration
	// CheckpointInterval is how often tenants that received records get a
	// new signed checkpoint; negative disables periodic checkpoints (Close
	// and Checkpoint still sign).
	CheckpointInterval time.Duration

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	opened bool
	reqs   chan *appendReq
	done   chan struct{}
	stop   chan struct{}

	dirtyMu sync.Mutex
	dirty   map[string]bool // tenants appended to since their last checkpoint
}

type appendReq struct {
	rec  Record
	errc chan error
	// done, set by AppendAsync instead of errc, is called by the writer.
	done func(Record, error)
}

// New returns a Log over store that signs checkpoints with signer.
func New(store Store, signer *Signer) *Log {
	return &Log{
		Store:              store,
		Signer:             signer,
		Logger:             slog.New(slog.DiscardHandler),
		Now:                func() time.Time { return time.Now().UTC() },
		MaxBatch:           DefaultMaxBatch,
		QueueSize:          DefaultQueueSize,
		BatchTimeout:       DefaultBatchTimeout,
		Linger:             DefaultLinger,
		CheckpointInterval: DefaultCheckpointInterval,
	}
}

// Open starts the writer and the checkpoint ticker.
func (l *Log) Open() error {
	if l.Store == nil || l.Signer == nil {
		return errors.New("audit log: Store and Signer are required")
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	if l.QueueSize <= 0 {
		l.QueueSize = DefaultQueueSize
	}
	if l.BatchTimeout <= 0 {
		l.BatchTimeout = DefaultBatchTimeout
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened {
		return errors.New("audit log: already opened")
	}
	l.reqs = make(chan *appendReq, l.QueueSize)
	l.done = make(chan struct{})
	l.stop = make(chan struct{})
	l.dirty = map[string]bool{}
	l.opened = true
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		l.tick()
	}()
	go func() {
		l.write()
		close(l.stop)
		<-tickerDone
		close(l.done)
	}()
	return nil
}

// Close stops accepting appends, commits every append already accepted,
// signs a final checkpoint for each tenant that received records, and
// returns once all of that is done.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed || !l.opened {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.reqs)
	l.mu.Unlock()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), l.BatchTimeout)
	defer cancel()
	return l.checkpointDirty(ctx)
}

// Append adds rec to its tenant's chain and returns it with Seq, PrevHash
// and Hash set, once it is committed. A zero Time is set to now. The batch
// the record joins runs under the Log's own context, so one caller giving
// up does not abort the others; callers that must not lose a record when
// their client disconnects pass context.WithoutCancel(ctx) (with a
// timeout). If ctx ends first, Append returns its error and the record may
// or may not have been committed.
func (l *Log) Append(ctx context.Context, rec Record) (Record, error) {
	if rec.Time.IsZero() {
		rec.Time = l.Now()
	}
	rec.Seq, rec.PrevHash, rec.Hash = 0, Hash{}, Hash{}
	if err := rec.Normalize(); err != nil {
		return Record{}, err
	}
	req := &appendReq{rec: rec, errc: make(chan error, 1)}
	l.mu.RLock()
	if l.closed || !l.opened {
		l.mu.RUnlock()
		return Record{}, vargate.Errorf(vargate.KindUnavailable, "audit log is closed")
	}
	select {
	case l.reqs <- req:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return Record{}, fmt.Errorf("audit append: %w", ctx.Err())
	}
	select {
	case err := <-req.errc:
		if err != nil {
			return Record{}, err
		}
		return req.rec, nil
	case <-ctx.Done():
		return Record{}, fmt.Errorf("audit append (outcome unknown): %w", ctx.Err())
	}
}

// AppendAsync queues rec like Append but does not wait for its commit:
// the record joins the next batch, and done (if not nil) is called from
// the writer goroutine once that batch committed (with the record as
// stored) or failed. done must not block. AppendAsync fails at once,
// without queueing, if rec is invalid, the log is closed or its queue is
// full; a record it accepted is committed by Close at the latest.
func (l *Log) AppendAsync(rec Record, done func(Record, error)) error {
	if rec.Time.IsZero() {
		rec.Time = l.Now()
	}
	rec.Seq, rec.PrevHash, rec.Hash = 0, Hash{}, Hash{}
	if err := rec.Normalize(); err != nil {
		return err
	}
	if done == nil {
		done = func(Record, error) {}
	}
	req := &appendReq{rec: rec, done: done}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || !l.opened {
		return vargate.Errorf(vargate.KindUnavailable, "audit log is closed")
	}
	select {
	case l.reqs <- req:
		return nil
	default:
		return vargate.Errorf(vargate.KindUnavailable, "audit queue is full")
	}
}

// write is the group-commit loop. Appenders that were just acknowledged
// come back a moment later, so a batch taken the instant the previous one
// committed would catch only the quickest of them and the rest would wait
// a whole commit more. So when fewer appends are waiting than the last
// batch held, the writer lingers — at most Linger — until as many arrive;
// a lone appender (last batch of one) never waits.
func (l *Log) write() {
	batch := make([]*appendReq, 0, l.MaxBatch)
	recs := make([]*Record, 0, l.MaxBatch)
	target := 1 // size of the last batch: how many appenders are active
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		req, ok := <-l.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		open := l.take(&batch, l.MaxBatch)
		if open && len(batch) < target && l.Linger > 0 {
			timer.Reset(l.Linger)
		linger:
			for len(batch) < target {
				select {
				case req, ok := <-l.reqs:
					if !ok {
						break linger
					}
					batch = append(batch, req)
				case <-timer.C:
					break linger
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			l.take(&batch, l.MaxBatch)
		}
		target = len(batch)
		recs = recs[:0]
		for _, r := range batch {
			recs = append(recs, &r.rec)
		}
		err := l.commit(recs)
		if err != nil {
			l.Logger.Error("audit batch failed", logKeyRecords, len(batch), logKeyError, err)
		}
		for _, r := range batch {
			if r.done != nil {
				r.done(r.rec, err)
				continue
			}
			r.errc <- err
		}
	}
}

// take moves waiting appends into batch without blocking, up to limit. It
// reports false once the queue is closed.
func (l *Log) take(batch *[]*appendReq, limit int) bool {
	for len(*batch) < limit {
		select {
		case req, ok := <-l.reqs:
			if !ok {
				return false
			}
			*batch = append(*batch, req)
		default:
			return true
		}
	}
	return true
}

func (l *Log) commit(recs []*Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.BatchTimeout)
	defer cancel()
	if err := l.Store.Append(ctx, recs); err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	l.dirtyMu.Lock()
	for _, r := range recs {
		l.dirty[r.TenantID] = true
	}
	l.dirtyMu.Unlock()
	return nil
}

func (l *Log) tick() {
	if l.CheckpointInterval < 0 {
		<-l.stop
		return
	}
	interval := l.CheckpointInterval
	if interval == 0 {
		interval = DefaultCheckpointInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.BatchTimeout)
			if err := l.checkpointDirty(ctx); err != nil {
				l.Logger.Error("audit checkpoint failed", logKeyError, err)
			}
			cancel()
		}
	}
}

func (l *Log) checkpointDirty(ctx context.Context) error {
	l.dirtyMu.Lock()
	tenants := make([]string, 0, len(l.dirty))
	for t := range l.dirty {
		tenants = append(tenants, t)
	}
	clear(l.dirty)
	l.dirtyMu.Unlock()
	sort.Strings(tenants)
	var errs []error
	for _, t := range tenants {
		c, err := l.Checkpoint(ctx, t)
		if err != nil {
			l.dirtyMu.Lock()
			l.dirty[t] = true
			l.dirtyMu.Unlock()
			errs = append(errs, err)
			continue
		}
		l.Logger.Debug("audit checkpoint signed", logKeyTenant, t, logKeySize, c.Size)
	}
	return errors.Join(errs...)
}

// Checkpoint returns a signed checkpoint of tenantID's whole log as it is
// now, signing and storing a new one unless the latest stored checkpoint
// already covers every record.
func (l *Log) Checkpoint(ctx context.Context, tenantID string) (Checkpoint, error) {
	head, err := l.Store.Head(ctx, tenantID)
	if err != nil {
		return Checkpoint{}, err
	}
	latest, err := l.Store.LatestCheckpoint(ctx, tenantID)
	switch {
	case err == nil && latest.Size >= head.Seq:
		return latest, nil
	case err != nil && !vargate.IsKind(err, vargate.KindNotFound):
		return Checkpoint{}, err
	}
	root, err := head.Root()
	if err != nil {
		return Checkpoint{}, err
	}
	signed, err := l.Signer.SignCheckpoint(tenantID, head.Seq, root)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{TenantID: tenantID, Size: head.Seq, Root: root, Note: signed, Created: l.Now().UTC().Truncate(time.Microsecond)}
	if err := l.Store.SaveCheckpoint(ctx, c); err != nil {
		return Checkpoint{}, fmt.Errorf("save audit checkpoint: %w", err)
	}
	return c, nil
}

// LatestCheckpoint returns the latest stored checkpoint without signing a
// new one; a tenant without one gets a fresh checkpoint.
func (l *Log) LatestCheckpoint(ctx context.Context, tenantID string) (Checkpoint, error) {
	c, err := l.Store.LatestCheckpoint(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return l.Checkpoint(ctx, tenantID)
	}
	return c, err
}

// PublicKey returns the note verifier key of the checkpoint signer.
func (l *Log) PublicKey() string { return l.Signer.PublicKey() }

// Verify checks tenantID's chain (see Verify) against this Log's key.
func (l *Log) Verify(ctx context.Context, tenantID string, trusted ...string) (VerifyResult, error) {
	return Verify(ctx, l.Store, l.Signer.Verifier(), tenantID, trusted...)
}

// InclusionProof proves record seq against the tree of size leaves. Size
// 0 means the latest checkpoint, signing a new one if the latest does not
// yet cover seq. The checkpoint returned is the stored one of that size,
// or zero if none was signed at exactly that size.
func (l *Log) InclusionProof(ctx context.Context, tenantID string, seq, size int64) (InclusionProof, Checkpoint, error) {
	if seq < 1 {
		return InclusionProof{}, Checkpoint{}, vargate.Invalid("seq", "must be at least 1")
	}
	c, size, err := l.sizeFor(ctx, tenantID, seq, size)
	if err != nil {
		return InclusionProof{}, Checkpoint{}, err
	}
	if seq > size {
		return InclusionProof{}, Checkpoint{}, vargate.Invalid("seq", "record %d is not in a tree of %d records", seq, size)
	}
	p, err := inclusionProof(ctx, storeNodes{l.Store, tenantID}, seq, size)
	if err != nil {
		return InclusionProof{}, Checkpoint{}, fmt.Errorf("inclusion proof: %w", err)
	}
	return p, c, nil
}

// ConsistencyProof proves that the tree of from leaves is a prefix of the
// tree of to leaves; to 0 means the latest checkpoint.
func (l *Log) ConsistencyProof(ctx context.Context, tenantID string, from, to int64) (ConsistencyProof, error) {
	if from < 0 {
		return ConsistencyProof{}, vargate.Invalid("from", "must not be negative")
	}
	_, to, err := l.sizeFor(ctx, tenantID, from, to)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if from > to {
		return ConsistencyProof{}, vargate.Invalid("from", "must not exceed to (%d)", to)
	}
	p, err := consistencyProof(ctx, storeNodes{l.Store, tenantID}, from, to)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("consistency proof: %w", err)
	}
	return p, nil
}

// sizeFor resolves a requested tree size: 0 means the latest checkpoint,
// made fresh when it does not reach need. A given size must not exceed
// the log.
func (l *Log) sizeFor(ctx context.Context, tenantID string, need, size int64) (Checkpoint, int64, error) {
	if size == 0 {
		c, err := l.LatestCheckpoint(ctx, tenantID)
		if err == nil && c.Size < need {
			c, err = l.Checkpoint(ctx, tenantID)
		}
		return c, c.Size, err
	}
	if size < 0 {
		return Checkpoint{}, 0, vargate.Invalid("size", "must not be negative")
	}
	head, err := l.Store.Head(ctx, tenantID)
	if err != nil {
		return Checkpoint{}, 0, err
	}
	if size > head.Seq {
		return Checkpoint{}, 0, vargate.Invalid("size", "the log has only %d records", head.Seq)
	}
	c, err := l.Store.CheckpointAt(ctx, tenantID, size)
	if err != nil && !vargate.IsKind(err, vargate.KindNotFound) {
		return Checkpoint{}, 0, err
	}
	return c, size, nil
}
