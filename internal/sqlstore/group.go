package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/vargate/vargate"
)

// Group commit (SQLite). SQLite has one writer and every commit fsyncs the
// WAL, so InTx calls that queue for the writer are run together: one
// BEGIN, each caller's fn in a SAVEPOINT of its own, one COMMIT. Each
// caller sees exactly what it would have seen had the transactions run
// one after another in queue order:
//
//   - a fn that fails is rolled back to its savepoint and only its caller
//     gets the error; the others still commit;
//   - a fn that panics is rolled back the same way and the panic is raised
//     again, as a *PanicError, in its caller's goroutine;
//   - if BEGIN or COMMIT fails, every caller of the batch whose fn
//     succeeded gets that error and nothing of the batch is committed;
//   - if the batch's transaction ends under it (a savepoint statement
//     fails, SQLite rolled back by itself after an I/O error, SQLITE_FULL
//     or an interrupt, or a fn ran COMMIT or ROLLBACK), no further fn runs,
//     the batch is rolled back and every caller of the batch fails.
//
// The batch runs with a context of its own, and each fn's statements run
// without their caller's cancellation (context.WithoutCancel, values kept):
// database/sql rolls a transaction back when its BeginTx context ends, and
// an interrupted write inside an explicit transaction makes SQLite roll the
// whole transaction back, other callers' work included. A caller whose
// context ends while it is still queued leaves the queue with ctx.Err(); one
// whose fn has started waits for the batch's outcome (fns are short).
//
// There is no waiting for company: whichever caller finds the writer free
// leads a batch of whatever is queued (at most maxGroup fns), and when it is
// done it hands the lead to the next queued caller. A lone caller pays what
// a plain transaction costs: its batch of one runs without a savepoint.

// maxGroup is the most fns one batch runs.
const maxGroup = 64

// savepoint is the name of each fn's savepoint. One name serves: each is
// released before the next is taken.
const savepoint = "vargate_group"

// errClosed fails the callers still queued when the DB closes.
var errClosed = vargate.Errorf(vargate.KindUnavailable, "database closed")

// errGoexit is the error of a fn that called runtime.Goexit (t.FailNow).
var errGoexit = errors.New("transaction fn called runtime.Goexit")

// PanicError is raised again in the caller's goroutine when its
// transaction's fn panicked: the fn ran on another caller's goroutine,
// whose stack Stack is.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic in transaction: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic's value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// The states of a groupCall.
const (
	callQueued    int32 = iota // waiting in the queue
	callTaken                  // in a batch; its result will be delivered
	callLeading                // the caller is to lead the next batch
	callWithdrawn              // its context ended while queued; skipped
)

// groupCall is one InTx call waiting for, or running in, a batch.
type groupCall struct {
	ctx   context.Context
	fn    func(*Tx) error
	state atomic.Int32
	wake  chan struct{} // a result was delivered or the lead was handed over
	err   error
	panic *PanicError
	done  bool // fn ran to an outcome and the result is final
}

// result returns the call's error or raises its fn's panic again.
func (c *groupCall) result() error {
	if c.panic != nil {
		panic(c.panic)
	}
	return c.err
}

// group is the queue of a DB's write transactions (SQLite).
type group struct {
	mu     sync.Mutex
	queue  []*groupCall
	active bool // a caller is leading a batch
	closed bool
	batch  []*groupCall // the leader's batch, reused
}

// do runs fn in a batch and returns its outcome.
func (g *group) do(db *DB, ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &groupCall{ctx: ctx, fn: fn}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errClosed
	}
	if g.active {
		c.wake = make(chan struct{}, 1)
		g.queue = append(g.queue, c)
		g.mu.Unlock()
		select {
		case <-c.wake:
		case <-ctx.Done():
			if c.state.CompareAndSwap(callQueued, callWithdrawn) {
				return ctx.Err()
			}
			<-c.wake // taken: its outcome follows
		}
		if c.state.Load() != callLeading {
			return c.result()
		}
	} else {
		g.active = true
		g.mu.Unlock()
	}
	g.lead(db, c)
	return c.result()
}

// lead runs one batch headed by first, then hands the lead on.
func (g *group) lead(db *DB, first *groupCall) {
	defer g.handOff()
	g.mu.Lock()
	batch := append(g.batch[:0], first)
	n := 0
	for n < len(g.queue) && len(batch) < maxGroup {
		if c := g.queue[n]; c.state.CompareAndSwap(callQueued, callTaken) {
			batch = append(batch, c)
		}
		n++
	}
	g.queue = g.queue[:copy(g.queue, g.queue[n:])]
	clear(g.queue[len(g.queue):cap(g.queue)])
	g.batch = nil // owned by this leader until it is done
	g.mu.Unlock()

	db.runBatch(batch)

	clear(batch)
	g.mu.Lock()
	g.batch = batch[:0]
	g.mu.Unlock()
}

// handOff makes the next queued caller the leader, or leaves the writer
// free.
func (g *group) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.queue) > 0 {
		c := g.queue[0]
		g.queue[0] = nil
		g.queue = g.queue[1:]
		if c.state.CompareAndSwap(callQueued, callLeading) {
			c.wake <- struct{}{}
			return
		}
	}
	g.queue = nil
	g.active = false
}

// close fails the queued callers; a batch already running finishes.
func (g *group) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, c := range g.queue {
		if c.state.CompareAndSwap(callQueued, callTaken) {
			c.err = errClosed
			c.wake <- struct{}{}
		}
	}
	g.queue = nil
}

// runBatch runs batch in one transaction and delivers every call's
// result. batch[0] is the leader's own call, whose result is read on
// return; the others are woken.
func (db *DB) runBatch(batch []*groupCall) {
	var (
		sqlTx   *sql.Tx
		failed  error // the batch's transaction is lost: fail everyone
		settled = false
	)
	// Deliver results even if a fn called runtime.Goexit, which unwinds
	// this goroutine past everything but deferred calls.
	defer func() {
		if !settled {
			failed = errGoexit
			for _, c := range batch {
				if !c.done {
					c.done, c.err = true, errGoexit
				}
			}
		}
		if sqlTx != nil && failed != nil {
			_ = sqlTx.Rollback() // SQLite may have rolled back already
		}
		db.Guard.close()
		for i, c := range batch {
			if failed != nil && c.err == nil {
				c.err = failed
			}
			if i > 0 {
				c.wake <- struct{}{}
			}
		}
	}()

	// The batch's own context: no caller's end may roll it back.
	ctx := context.Background()
	var err error
	sqlTx, err = db.Write.BeginTx(ctx, nil)
	if err != nil {
		sqlTx, failed, settled = nil, fmt.Errorf("begin: %w", err), true
		return
	}
	db.Guard.open()
	tx := &Tx{tx: sqlTx, db: db, detach: true}
	if len(batch) == 1 {
		c := batch[0]
		c.err, c.done = db.call(tx, c), true
		switch {
		case db.Guard.ended():
			failed = fmt.Errorf("transaction ended inside fn: %w", errTxEnded)
		case c.err != nil:
			failed = c.err // rolled back by the deferred call
		default:
			failed = db.commit(sqlTx)
		}
		settled = true
		return
	}
	for _, c := range batch {
		if failed = db.runSavepoint(ctx, tx, c); failed != nil {
			break
		}
	}
	if failed == nil {
		failed = db.commit(sqlTx)
	}
	settled = true
}

// errTxEnded reports that a batch's transaction ended before its COMMIT.
var errTxEnded = errors.New("group commit: the transaction ended before its commit; nothing of the batch was committed")

// runSavepoint runs c's fn inside a savepoint of tx. It returns an error
// only if the batch's transaction is lost.
func (db *DB) runSavepoint(ctx context.Context, tx *Tx, c *groupCall) error {
	if err := c.ctx.Err(); err != nil {
		c.err, c.done = err, true // ended while queued: nothing written
		return nil
	}
	if _, err := tx.tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	c.err, c.done = db.call(tx, c), true
	if db.Guard.ended() {
		return errTxEnded
	}
	if c.err != nil {
		if _, err := tx.tx.ExecContext(ctx, "ROLLBACK TO "+savepoint); err != nil {
			return fmt.Errorf("%w: rollback to savepoint: %w", errTxEnded, err)
		}
	}
	if _, err := tx.tx.ExecContext(ctx, "RELEASE "+savepoint); err != nil {
		return fmt.Errorf("%w: release savepoint: %w", errTxEnded, err)
	}
	if db.Guard.ended() {
		return errTxEnded
	}
	return nil
}

// call runs c's fn, turning a panic into an error and keeping the panic
// for the caller. Skips a fn whose caller's context has ended.
func (db *DB) call(tx *Tx, c *groupCall) (err error) {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	returned := false
	defer func() {
		if returned {
			return
		}
		// A nil recover means runtime.Goexit, which runBatch's deferred
		// call handles; panic(nil) recovers a *runtime.PanicNilError.
		if v := recover(); v != nil {
			c.panic = &PanicError{Value: v, Stack: debug.Stack()}
			err = c.panic
		}
	}()
	err = c.fn(tx)
	returned = true
	return err
}

// commit commits the batch's transaction, the only commit the guard
// allows while a batch is open.
func (db *DB) commit(sqlTx *sql.Tx) error {
	db.Guard.allowCommit()
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// TxGuard watches the SQLite writer connection for a batch transaction
// that ends before its COMMIT. The dialect package installs Commit and
// Rollback as the connection's commit and rollback hooks
// (sqlite3_commit_hook, sqlite3_rollback_hook). While a batch is open, a
// commit other than the batch's own — a fn's COMMIT, or a write a fn makes
// in autocommit mode after the transaction ended — is refused (SQLite
// turns it into a rollback), and any rollback of the whole transaction is
// noted, so the batch fails instead of reporting lost work as committed.
// A nil *TxGuard watches nothing; the savepoint statements' errors still
// catch most of it.
type TxGuard struct {
	state   atomic.Int32 // guardIdle, guardOpen, guardCommitting
	lost    atomic.Bool  // the open batch's transaction ended
	commits atomic.Int64 // commits of the writer connection
}

// The states of a TxGuard.
const (
	guardIdle       int32 = iota // no batch: commits allowed
	guardOpen                    // a batch runs its fns: commits refused
	guardCommitting              // the batch's own COMMIT
)

// Commit is the writer connection's commit hook: it returns non-zero,
// turning the commit into a rollback, for a commit inside an open batch.
func (g *TxGuard) Commit() int32 {
	if g.state.Load() == guardOpen {
		g.lost.Store(true)
		return 1
	}
	g.commits.Add(1)
	return 0
}

// Rollback is the writer connection's rollback hook: a rollback of the
// whole transaction while a batch is open loses the batch.
func (g *TxGuard) Rollback() {
	if g.state.Load() == guardOpen {
		g.lost.Store(true)
	}
}

// Commits returns how many transactions the writer connection committed.
func (g *TxGuard) Commits() int64 {
	if g == nil {
		return 0
	}
	return g.commits.Load()
}

func (g *TxGuard) open() {
	if g != nil {
		g.lost.Store(false)
		g.state.Store(guardOpen)
	}
}

func (g *TxGuard) allowCommit() {
	if g != nil {
		g.state.Store(guardCommitting)
	}
}

func (g *TxGuard) close() {
	if g != nil {
		g.state.Store(guardIdle)
	}
}

func (g *TxGuard) ended() bool { return g != nil && g.lost.Load() }
