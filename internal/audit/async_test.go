package audit_test

import (
	"sync"
	"testing"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// AppendAsync records join the group commit without a waiting caller;
// done reports each once committed, and Close commits what was queued.
func TestAppendAsync(t *testing.T) {
	db := storetest.Open(t, sqlstore.SQLite)
	l := openLog(t, db, newSigner(t))
	var mu sync.Mutex
	var seqs []int64
	for i := range 20 {
		if err := l.AppendAsync(event("t1", i), func(r audit.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			seqs = append(seqs, r.Seq)
		}); err != nil {
			t.Fatal(err)
		}
	}
	bad := event("t1", 99)
	bad.Outcome = "maybe"
	if err := l.AppendAsync(bad, nil); err == nil {
		t.Error("an invalid record was queued")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 20 || seqs[19] != 20 {
		t.Errorf("committed seqs %v", seqs)
	}
	if err := l.AppendAsync(event("t1", 21), nil); err == nil {
		t.Error("queued on a closed log")
	}
	res, err := audit.Verify(t.Context(), sqlstore.NewAuditStore(db), l.Signer.Verifier(), "t1")
	if err != nil || !res.Valid || res.RecordsChecked != 20 {
		t.Errorf("verify: %+v, %v", res, err)
	}
}
