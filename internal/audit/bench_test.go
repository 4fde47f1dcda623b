package audit_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// BenchmarkAppend measures durable appends per second through the
// group-commit Log: each Append returns only after its transaction has
// committed (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on).
//
//	go test ./internal/audit -run '^$' -bench Append -benchtime 5s
func BenchmarkAppend(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", d, writers), func(b *testing.B) {
				db := storetest.Open(b, d)
				cs := &countingStore{Store: sqlstore.NewAuditStore(db)}
				l := audit.New(cs, newSigner(b))
				l.CheckpointInterval = -1
				if err := l.Open(); err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				for range writers {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := l.Append(ctx, event("t1", int(i))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
				b.ReportMetric(float64(b.N)/float64(cs.batches.Load()), "records/batch")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/append")
			})
		}
	}
}

// countingStore counts the store transactions (batches) Append makes.
type countingStore struct {
	audit.Store
	batches atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, recs []*audit.Record) error {
	s.batches.Add(1)
	return s.Store.Append(ctx, recs)
}

// BenchmarkVerify measures a full verification of one tenant's chain:
// streaming every record, re-hashing it, checking links, rebuilding the
// Merkle tree and comparing it with the signed checkpoints. The chain has
// VARGATE_BENCH_VERIFY_N records (default 100,000; the published figure
// uses 1,000,000).
//
//	VARGATE_BENCH_VERIFY_N=1000000 go test ./internal/audit -run '^$' -bench Verify -benchtime 3x
func BenchmarkVerify(b *testing.B) {
	n := 100_000
	if v := os.Getenv("VARGATE_BENCH_VERIFY_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	parent := b
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		// Filled on first use and kept open by the parent: the timed
		// sub-benchmark runs more than once.
		var l *audit.Log
		b.Run(fmt.Sprintf("%s/records=%d", d, n), func(b *testing.B) {
			if l == nil {
				db := storetest.Open(parent, d)
				l = openLog(parent, db, newSigner(parent))
				fill(b, nil, db, "t1", n, 10_000)
				if _, err := l.Checkpoint(context.Background(), "t1"); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
			}
			cpu0 := cpuTime()
			for range b.N {
				res, err := l.Verify(context.Background(), "t1")
				if err != nil || !res.Valid || res.RecordsChecked != int64(n) {
					b.Fatalf("verify = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/verify")
		})
	}
}

// cpuTime is the user and system CPU time this process has used: on a
// machine shared with other work it shows the cost that wall-clock rates
// blur. (The PostgreSQL server's own CPU is not in it.)
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordHash measures the canonical encoding plus SHA-256 alone.
func BenchmarkRecordHash(b *testing.B) {
	r := event("t1", 1)
	if err := r.Normalize(); err != nil {
		b.Fatal(err)
	}
	var h audit.Hash
	for b.Loop() {
		h = r.ComputeHash()
	}
	_ = h
}
