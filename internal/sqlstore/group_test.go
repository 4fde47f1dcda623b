package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// groupDB returns a fresh SQLite database with the table gc (id, v).
func groupDB(t *testing.T) *sqlstore.DB {
	t.Helper()
	db := storetest.Open(t, sqlstore.SQLite)
	if _, err := db.Write.ExecContext(t.Context(), `CREATE TABLE gc (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(ctx context.Context, tx *sqlstore.Tx, id int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO gc (id, v) VALUES (?, 'x')`, id)
	return err
}

// rows returns the ids in gc.
func rows(t *testing.T, db *sqlstore.DB) map[int]bool {
	t.Helper()
	rs, err := db.QueryContext(t.Context(), `SELECT id FROM gc`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := map[int]bool{}
	for rs.Next() {
		var id int
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got[id] = true
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// hold takes the writer with an InTx whose fn (inserting id) blocks until
// release is called; done reports its outcome.
func hold(t *testing.T, db *sqlstore.DB, id int) (release func(), done <-chan error) {
	t.Helper()
	started, unblock, out := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		out <- db.InTx(context.Background(), func(tx *sqlstore.Tx) error {
			close(started)
			<-unblock
			return insert(context.Background(), tx, id)
		})
	}()
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	return release, out
}

// queue starts InTx(ctx, fn) and returns once it waits in the queue
// (behind a hold), so calls queued one by one run in that order.
func queue(t *testing.T, db *sqlstore.DB, ctx context.Context, fn func(*sqlstore.Tx) error) <-chan error {
	t.Helper()
	n := db.Queued()
	out := make(chan error, 1)
	go func() { out <- db.InTx(ctx, fn) }()
	waitFor(t, func() bool { return db.Queued() == n+1 })
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// Many concurrent callers, a random subset failing after writing: exactly
// the successful callers' rows exist, each caller gets its own outcome,
// and the callers share commits.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := groupDB(t)
	const workers, each = 32, 25
	errFail := errors.New("fail")
	before := db.Guard.Commits()
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[int]bool{}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := w*each + i
				fail := rand.IntN(3) == 0
				err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error {
					if err := insert(t.Context(), tx, id); err != nil {
						return err
					}
					if err := insert(t.Context(), tx, 100000+id); err != nil {
						return err
					}
					if fail {
						return errFail
					}
					return nil
				})
				switch {
				case fail && !errors.Is(err, errFail):
					t.Errorf("failing caller %d: %v, want its own error", id, err)
				case !fail && err != nil:
					t.Errorf("caller %d: %v", id, err)
				case !fail:
					mu.Lock()
					want[id], want[100000+id] = true, true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	got := rows(t, db)
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("row %d missing", id)
		}
	}
	commits := db.Guard.Commits() - before
	t.Logf("%d calls, %d commits", workers*each, commits)
	if commits >= workers*each {
		t.Errorf("%d commits for %d concurrent calls: no grouping", commits, workers*each)
	}
}

// Calls that queue while the writer is busy commit together, at most 64
// to a batch.
func TestGroupCommitBatches(t *testing.T) {
	db := groupDB(t)
	before := db.Guard.Commits()
	release, held := hold(t, db, 0)
	const n = 100
	outs := make([]<-chan error, n)
	for i := range n {
		outs[i] = queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, i+1) })
	}
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		if err := <-out; err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if got := len(rows(t, db)); got != n+1 {
		t.Errorf("%d rows, want %d", got, n+1)
	}
	// The hold's batch, then 64 + 36.
	if got := db.Guard.Commits() - before; got != 3 {
		t.Errorf("%d commits, want 3", got)
	}
}

// A lone caller: its fn's error rolls its writes back, and its panic is
// raised in its own goroutine, the writer left usable.
func TestGroupCommitLoneCaller(t *testing.T) {
	db := groupDB(t)
	errFail := errors.New("fail")
	if err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error {
		if err := insert(t.Context(), tx, 1); err != nil {
			return err
		}
		return errFail
	}); !errors.Is(err, errFail) {
		t.Fatalf("InTx = %v, want its fn's error", err)
	}
	p := catch(func() error {
		return db.InTx(t.Context(), func(tx *sqlstore.Tx) error {
			if err := insert(t.Context(), tx, 2); err != nil {
				return err
			}
			panic("boom")
		})
	})
	if pe, ok := p.(*sqlstore.PanicError); !ok || pe.Value != "boom" {
		t.Fatalf("panic %v, want a *PanicError of boom", p)
	}
	if err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 3) }); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, db); len(got) != 1 || !got[3] {
		t.Errorf("rows %v, want only 3", got)
	}
}

// catch runs f and returns what it panicked with, or its error.
func catch(f func() error) (v any) {
	defer func() {
		if p := recover(); p != nil {
			v = p
		}
	}()
	return f()
}

// A fn that panics inside a batch is rolled back to its savepoint, its
// caller gets the panic, and the callers before and after it commit.
func TestGroupCommitPanic(t *testing.T) {
	db := groupDB(t)
	release, held := hold(t, db, 0)
	a := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 1) })
	panicked := make(chan any, 1)
	go func() {
		panicked <- catch(func() error {
			return db.InTx(t.Context(), func(tx *sqlstore.Tx) error {
				if err := insert(t.Context(), tx, 2); err != nil {
					return err
				}
				panic(errors.New("boom"))
			})
		})
	}()
	waitFor(t, func() bool { return db.Queued() == 2 })
	c := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 3) })
	release()
	for _, out := range []<-chan error{held, a, c} {
		if err := <-out; err != nil {
			t.Fatal(err)
		}
	}
	p := <-panicked
	var pe *sqlstore.PanicError
	if err, ok := p.(error); !ok || !errors.As(err, &pe) || pe.Unwrap() == nil || pe.Unwrap().Error() != "boom" {
		t.Fatalf("panic %v, want a *PanicError of boom", p)
	}
	if got := rows(t, db); len(got) != 3 || got[2] {
		t.Errorf("rows %v, want 0, 1 and 3", got)
	}
}

// A caller whose context ended before its fn started gets ctx.Err() and
// nothing of it is written, whether it ended before the call or while
// queued; one whose context ends while its fn runs is not interrupted.
func TestGroupCommitContext(t *testing.T) {
	db := groupDB(t)
	ran := atomic.Int32{}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.InTx(done, func(tx *sqlstore.Tx) error { ran.Add(1); return insert(done, tx, 1) }); !errors.Is(err, context.Canceled) {
		t.Fatalf("InTx with an ended context = %v", err)
	}

	release, held := hold(t, db, 0)
	queuedCtx, cancelQueued := context.WithCancel(t.Context())
	queued := queue(t, db, queuedCtx, func(tx *sqlstore.Tx) error { ran.Add(1); return insert(queuedCtx, tx, 2) })
	cancelQueued()
	select { // it leaves the queue at once, the writer still held
	case err := <-queued:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("queued caller = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a queued caller whose context ended still waits")
	}

	// In a batch: the caller's context ends between two of its writes.
	type key struct{}
	duringCtx, cancelDuring := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
	during := queue(t, db, duringCtx, func(tx *sqlstore.Tx) error {
		if err := insert(duringCtx, tx, 3); err != nil {
			return err
		}
		cancelDuring()
		if err := insert(duringCtx, tx, 4); err != nil {
			return fmt.Errorf("statement after cancel: %w", err)
		}
		return nil
	})
	after := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 5) })
	release()
	for _, out := range []<-chan error{held, during, after} {
		if err := <-out; err != nil {
			t.Fatal(err)
		}
	}
	if ran.Load() != 0 {
		t.Errorf("%d fns of ended contexts ran", ran.Load())
	}
	if got := rows(t, db); len(got) != 4 || !got[3] || !got[4] || !got[5] {
		t.Errorf("rows %v, want 0, 3, 4, 5", got)
	}
}

// A COMMIT that fails (a deferred foreign key checked only then) fails
// every caller of the batch and commits nothing of it.
func TestGroupCommitCommitFailure(t *testing.T) {
	db := groupDB(t)
	if _, err := db.Write.ExecContext(t.Context(), `CREATE TABLE gc_child (id INTEGER PRIMARY KEY,
		parent INTEGER NOT NULL REFERENCES gc (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	release, held := hold(t, db, 0)
	a := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 1) })
	orphan := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(t.Context(), `INSERT INTO gc_child (id, parent) VALUES (1, 999)`)
		return err
	})
	c := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 3) })
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, out := range []<-chan error{a, orphan, c} {
		if err := <-out; err == nil {
			t.Errorf("caller %d: no error from a failed commit", i)
		}
	}
	if got := rows(t, db); len(got) != 1 || !got[0] {
		t.Errorf("rows %v, want only the hold's 0", got)
	}
	// The writer is usable afterwards.
	if err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 4) }); err != nil {
		t.Fatal(err)
	}
}

// A fn that ends the batch's transaction itself (ROLLBACK, COMMIT, or a
// ROLLBACK followed by writes in autocommit mode) leaves nothing of the
// batch written: every caller whose fn ran gets an error, the fns after
// it do not run, and no write is committed outside the batch's COMMIT.
func TestGroupCommitTransactionEnded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noGuard bool // rely on the savepoint statements' errors alone
		end     func(context.Context, *sqlstore.Tx) error
	}{
		{"rollback", false, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `ROLLBACK`)
			return err
		}},
		{"rollback without guard", true, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `ROLLBACK`)
			return err
		}},
		{"commit", false, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, _ = tx.ExecContext(ctx, `COMMIT`) // refused: the batch is open
			return nil
		}},
		{"rollback then autocommit", false, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, _ = tx.ExecContext(ctx, `ROLLBACK`)
			_ = insert(ctx, tx, 21) // autocommit: its commit is refused
			return nil
		}},
		{"rollback then begin", false, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, _ = tx.ExecContext(ctx, `ROLLBACK`)
			_, _ = tx.ExecContext(ctx, `BEGIN`)
			_, _ = tx.ExecContext(ctx, `SAVEPOINT vargate_group`)
			return insert(ctx, tx, 22)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := groupDB(t)
			if tc.noGuard {
				db.Guard = nil
			}
			if err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 0) }); err != nil {
				t.Fatal(err)
			}
			release, held := hold(t, db, 1)
			a := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 10) })
			ender := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error {
				if err := insert(t.Context(), tx, 20); err != nil {
					return err
				}
				return tc.end(t.Context(), tx)
			})
			var lateRan atomic.Bool
			late := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error {
				lateRan.Store(true)
				return insert(t.Context(), tx, 30)
			})
			release()
			if err := <-held; err != nil {
				t.Fatal(err)
			}
			for i, out := range []<-chan error{a, ender, late} {
				if err := <-out; err == nil {
					t.Errorf("caller %d: no error", i)
				}
			}
			if lateRan.Load() {
				t.Error("a fn ran after the transaction ended")
			}
			if got := rows(t, db); len(got) != 2 || !got[0] || !got[1] {
				t.Errorf("rows %v, want only 0 and the hold's 1 (committed before)", got)
			}
			if err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 40) }); err != nil {
				t.Fatalf("writer after the lost batch: %v", err)
			}
		})
	}
}

// A fn that fails with a retryable error is run again on its own; the
// batch around it commits once.
func TestGroupCommitRetry(t *testing.T) {
	db := groupDB(t)
	errBusy := errors.New("busy")
	db.IsRetryable = func(err error) bool { return errors.Is(err, errBusy) }
	release, held := hold(t, db, 0)
	var runs atomic.Int32
	flaky := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error {
		if err := insert(t.Context(), tx, 1); err != nil {
			return err
		}
		if runs.Add(1) == 1 {
			return errBusy
		}
		return nil
	})
	b := queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, 2) })
	release()
	for _, out := range []<-chan error{held, flaky, b} {
		if err := <-out; err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != 2 {
		t.Errorf("flaky fn ran %d times, want 2", runs.Load())
	}
	if got := rows(t, db); len(got) != 3 {
		t.Errorf("rows %v, want 0, 1, 2", got)
	}
}

// Close fails the callers still queued and lets the running batch finish.
func TestGroupCommitClose(t *testing.T) {
	db := groupDB(t)
	release, held := hold(t, db, 0)
	var outs []<-chan error
	for i := range 5 {
		outs = append(outs, queue(t, db, t.Context(), func(tx *sqlstore.Tx) error { return insert(t.Context(), tx, i+1) }))
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	for i, out := range outs {
		select {
		case err := <-out:
			if !vargate.IsKind(err, vargate.KindUnavailable) {
				t.Errorf("queued caller %d = %v, want unavailable", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("queued caller %d still waits after Close", i)
		}
	}
	release()
	if err := <-held; err != nil {
		t.Errorf("the running batch: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := db.InTx(t.Context(), func(tx *sqlstore.Tx) error { return nil }); !vargate.IsKind(err, vargate.KindUnavailable) {
		t.Errorf("InTx after Close = %v, want unavailable", err)
	}
}

// BenchmarkInTx measures a one-row insert transaction on SQLite, from one
// caller and from many concurrent ones, in wall time and in process CPU
// (cpu-µs/op) per transaction.
func BenchmarkInTx(b *testing.B) {
	for _, callers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			db := storetest.Open(b, sqlstore.SQLite)
			ctx := context.Background()
			if _, err := db.Write.ExecContext(ctx, `CREATE TABLE gc (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			var id atomic.Int64
			one := func() {
				n := id.Add(1)
				if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO gc (id, v) VALUES (?, 'x')`, n)
					return err
				}); err != nil {
					b.Error(err)
				}
			}
			cpu0 := processCPU()
			b.ResetTimer()
			if callers == 1 {
				for b.Loop() {
					one()
				}
			} else {
				var wg sync.WaitGroup
				var left atomic.Int64
				left.Store(int64(b.N))
				for range callers {
					wg.Go(func() {
						for left.Add(-1) >= 0 {
							one()
						}
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU returns the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
