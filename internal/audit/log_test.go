package audit_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func TestLogAppendConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		l := openLog(t, db, newSigner(t))
		const writers, each = 16, 40
		var mu sync.Mutex
		got := map[string][]audit.Record{}
		var wg sync.WaitGroup
		errc := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					tenant := []string{"t1", "t2"}[(w+i)%2]
					rec, err := l.Append(ctx, event(tenant, w*each+i))
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					got[tenant] = append(got[tenant], rec)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		for tenant, recs := range got {
			sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
			for i, r := range recs {
				if r.Seq != int64(i+1) {
					t.Fatalf("%s: acknowledged seqs are not 1..%d: position %d has %d", tenant, len(recs), i, r.Seq)
				}
				if r.Hash != r.ComputeHash() {
					t.Errorf("%s: record %d returned with a hash that does not match it", tenant, r.Seq)
				}
				if i > 0 && r.PrevHash != recs[i-1].Hash {
					t.Errorf("%s: record %d does not link to %d", tenant, r.Seq, r.Seq-1)
				}
			}
			res, err := l.Verify(ctx, tenant)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid || res.RecordsChecked != int64(len(recs)) {
				t.Errorf("%s: verify = %+v, want valid with %d records", tenant, res, len(recs))
			}
		}
	})
}

func TestAppendFillsTimeAndRejectsInvalid(t *testing.T) {
	db := storetest.Open(t, sqlstore.SQLite)
	ctx := t.Context()
	l := audit.New(sqlstore.NewAuditStore(db), newSigner(t))
	now := time.Date(2026, 5, 1, 12, 0, 0, 987654321, time.UTC)
	l.Now = func() time.Time { return now }
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := event("t1", 1)
	r.Time = time.Time{}
	rec, err := l.Append(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Microsecond); !rec.Time.Equal(want) {
		t.Errorf("time = %v, want the clock's %v at microsecond precision", rec.Time, want)
	}
	bad := event("t1", 2)
	bad.Source = "direct"
	if _, err := l.Append(ctx, bad); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("unknown source: got %v, want invalid", err)
	}
	head, err := l.Store.Head(ctx, "t1")
	if err != nil || head.Seq != 1 {
		t.Errorf("head = %+v, %v; want only the valid record", head, err)
	}
}

func TestAppendAfterClose(t *testing.T) {
	db := storetest.Open(t, sqlstore.SQLite)
	l := audit.New(sqlstore.NewAuditStore(db), newSigner(t))
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Appends racing Close either commit or are refused; none is lost.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []int64
	for i := range 50 {
		wg.Go(func() {
			rec, err := l.Append(ctx, event("t1", i))
			switch {
			case err == nil:
				mu.Lock()
				acked = append(acked, rec.Seq)
				mu.Unlock()
			case !vargate.IsKind(err, vargate.KindUnavailable):
				t.Errorf("append racing close: %v", err)
			}
		})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := l.Append(ctx, event("t1", 99)); !vargate.IsKind(err, vargate.KindUnavailable) {
		t.Errorf("append after close: got %v, want unavailable", err)
	}
	st := sqlstore.NewAuditStore(db)
	head, err := st.Head(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != int64(len(acked)) {
		t.Errorf("log has %d records, %d appends were acknowledged", head.Seq, len(acked))
	}
	if len(acked) > 0 {
		c, err := st.LatestCheckpoint(ctx, "t1")
		if err != nil || c.Size != head.Seq {
			t.Errorf("checkpoint after close = %+v, %v; want one of size %d", c, err, head.Seq)
		}
	}
}

func TestAppendCancelledCaller(t *testing.T) {
	db := storetest.Open(t, sqlstore.SQLite)
	l := openLog(t, db, newSigner(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Append(ctx, event("t1", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("append with a cancelled context: got %v, want context.Canceled", err)
	}
	rec, err := l.Append(t.Context(), event("t1", 2))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq < 1 || rec.Seq > 2 {
		t.Errorf("seq after a cancelled append = %d", rec.Seq)
	}
}

func TestCheckpointKey(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/keys/audit.key"
	s1, err := audit.LoadOrCreateKey(path, "audit.example.com")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := audit.LoadOrCreateKey(path, "ignored-when-the-key-exists")
	if err != nil {
		t.Fatal(err)
	}
	if s1.PublicKey() != s2.PublicKey() {
		t.Errorf("reloaded key differs: %s vs %s", s1.PublicKey(), s2.PublicKey())
	}
	if !strings.HasPrefix(s1.PublicKey(), "audit.example.com+") {
		t.Errorf("public key %q does not carry the key name", s1.PublicKey())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.LoadOrCreateKey(path, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: got %v, want refusal", err)
	}

	note, err := s1.SignCheckpoint("tenant-a", 42, audit.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	body, err := s1.Verifier().Open("tenant-a", note)
	if err != nil {
		t.Fatal(err)
	}
	if body.Size != 42 || body.Root != (audit.Hash{7}) || body.Origin != "audit.example.com/tenant-a" {
		t.Errorf("opened checkpoint = %+v", body)
	}
	lines := strings.Split(note, "\n")
	if lines[0] != "audit.example.com/tenant-a" || lines[1] != "42" || lines[3] != "" || !strings.HasPrefix(lines[4], "— audit.example.com ") {
		t.Errorf("checkpoint is not in the C2SP form:\n%s", note)
	}
	if _, err := s1.Verifier().Open("tenant-b", note); err == nil {
		t.Error("tenant-a's checkpoint opened as tenant-b's")
	}
	if _, err := newSigner(t).Verifier().Open("tenant-a", note); err == nil {
		t.Error("checkpoint opened with another key")
	}
	forged := strings.Replace(note, "\n42\n", "\n43\n", 1)
	if _, err := s1.Verifier().Open("tenant-a", forged); err == nil {
		t.Error("checkpoint with an altered size opened")
	}
}

// Verifying a live log — appends and checkpoints landing while the workers
// read — finds it valid: it checks the log as of the head it started from.
func TestVerifyDuringAppends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		signer := newSigner(t)
		l := openLog(t, db, signer)
		fill(t, l, db, "t1", 300, 100)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := l.Append(ctx, event("t1", i)); err != nil {
						t.Error(err)
						return
					}
					if w == 0 && i%10 == 0 {
						if _, err := l.Checkpoint(ctx, "t1"); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		for i := range 8 {
			res, err := audit.VerifyWith(ctx, l.Store, signer.Verifier(), "t1", 1+i%4, 50)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid {
				t.Errorf("verification %d of a live log: %+v", i, res)
			}
		}
		close(stop)
		wg.Wait()
	})
}
