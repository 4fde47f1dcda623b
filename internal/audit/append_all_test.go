package audit_test

import (
	"sync"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// AppendAll commits records in the order given, even while other
// appenders share the commits, and refuses an invalid record alone.
func TestAppendAllKeepsOrder(t *testing.T) {
	db := storetest.Open(t, sqlstore.SQLite)
	l := openLog(t, db, newSigner(t))
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := l.Append(ctx, event("t1", 10_000+w*100+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	recs := make([]audit.Record, 200)
	for i := range recs {
		recs[i] = event("t1", i)
	}
	recs[7].Source = "direct"
	out, errs := l.AppendAll(ctx, recs)
	wg.Wait()
	last := int64(0)
	for i := range recs {
		if i == 7 {
			if !vargate.IsKind(errs[i], vargate.KindInvalid) {
				t.Errorf("invalid record: got %v, want invalid", errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("record %d: %v", i, errs[i])
		}
		if out[i].Seq <= last || out[i].ActionID != recs[i].ActionID {
			t.Fatalf("record %d committed as seq %d (%s) after seq %d", i, out[i].Seq, out[i].ActionID, last)
		}
		last = out[i].Seq
	}
}
