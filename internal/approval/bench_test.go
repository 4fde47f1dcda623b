package approval_test

import (
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// BenchmarkEnqueue measures queueing one action (insert, event, outbox
// webhook through the fake emitter).
func BenchmarkEnqueue(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, storetest.Open(b, d))
			for b.Loop() {
				e.enqueue(b, false)
			}
		})
	}
}

// BenchmarkApprove measures approve → executing → executed with three
// audit records (group-committed audit log) and a no-op executor.
func BenchmarkApprove(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, storetest.Open(b, d))
			ids := make([]string, 0, 4096)
			p := e.principal(vargate.RoleApprover)
			b.StopTimer()
			for range 4096 {
				ids = append(ids, e.enqueue(b, false).ID)
			}
			b.StartTimer()
			i := 0
			for b.Loop() {
				if i == len(ids) {
					b.StopTimer()
					ids, i = ids[:0], 0
					for range 4096 {
						ids = append(ids, e.enqueue(b, false).ID)
					}
					b.StartTimer()
				}
				if _, err := e.svc.Approve(b.Context(), p, ids[i], ""); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
