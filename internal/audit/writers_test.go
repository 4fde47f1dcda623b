package audit_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
)

// Two gateway "processes" — separate connection pools, separate Logs with
// their own group-commit writers and checkpoint signers — append to one
// tenant on one PostgreSQL database at once. The result is one chain.
func TestTwoWritersOnePostgres(t *testing.T) {
	dsn := pgSchemaDSN(t)
	keyPath := filepath.Join(t.TempDir(), "audit.key")
	const goroutines, each = 8, 150
	var logs []*audit.Log
	for range 2 {
		signer, err := audit.LoadOrCreateKey(keyPath, "") // shared key file
		if err != nil {
			t.Fatal(err)
		}
		l := audit.New(sqlstore.NewAuditStore(openPG(t, dsn)), signer)
		l.CheckpointInterval = 5 * time.Millisecond // checkpoints from both processes race the appends
		if err := l.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		logs = append(logs, l)
	}
	ctx := t.Context()
	var mu sync.Mutex
	seqs := map[int64]string{}
	var wg sync.WaitGroup
	for p, l := range logs {
		for range goroutines {
			wg.Go(func() {
				for i := range each {
					r := event("t1", i)
					r.Actor = []string{"process-a", "process-b"}[p]
					// A second tenant in the same batches exercises the lock order.
					if i%10 == 0 {
						r.TenantID = "t2"
					}
					rec, err := l.Append(ctx, r)
					if err != nil {
						t.Error(err)
						return
					}
					if rec.TenantID != "t1" {
						continue
					}
					mu.Lock()
					if other, dup := seqs[rec.Seq]; dup {
						t.Errorf("seq %d acknowledged twice (%s and %s): the chain forked", rec.Seq, other, r.Actor)
					}
					seqs[rec.Seq] = r.Actor
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := int64(len(seqs))
	res, err := logs[0].Verify(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid || res.RecordsChecked != want {
		t.Fatalf("verify = %+v, want a valid chain of %d records", res, want)
	}
	from := map[string]int{}
	for _, actor := range seqs {
		from[actor]++
	}
	if from["process-a"] == 0 || from["process-b"] == 0 {
		t.Errorf("records per process = %v, want both to have written", from)
	}
	if res2, err := logs[1].Verify(ctx, "t2"); err != nil || !res2.Valid {
		t.Errorf("tenant t2: %+v, %v", res2, err)
	}
	t.Logf("%d records from %v in one chain; %d checkpoints from both processes verified", want, from, res.CheckpointsChecked)
}
