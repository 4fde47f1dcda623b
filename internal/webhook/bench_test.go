package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/webhook"
)

// BenchmarkEmit measures writing one event to the outbox (settings
// cached), which is what the request that caused it pays.
func BenchmarkEmit(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, storetest.Open(b, d))
			s := webhook.New(sqlstore.NewWebhookStore(e.db), vaulttest.NewSealer(), nil)
			s.AllowPrivate = true
			if _, _, err := s.UpdateSettings(b.Context(), e.ten, "key", webhook.Update{URL: ptr("http://127.0.0.1:1/")}); err != nil {
				b.Fatal(err)
			}
			data := map[string]any{"action_id": "a", "tool": "send_email", "reasons": []string{"r"}}
			for b.Loop() {
				if err := s.Emit(b.Context(), e.ten, webhook.EventDenied, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEmitParallel measures outbox writes from many goroutines at
// once, which share transactions through the group-commit writer.
func BenchmarkEmitParallel(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, storetest.Open(b, d))
			// Deliveries are switched off so that only outbox writes are timed.
			s := webhook.New(noClaims{sqlstore.NewWebhookStore(e.db)}, vaulttest.NewSealer(), nil)
			s.AllowPrivate = true
			if err := s.Open(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			if _, _, err := s.UpdateSettings(b.Context(), e.ten, "key", webhook.Update{URL: ptr("http://127.0.0.1:1/")}); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Emit(b.Context(), e.ten, webhook.EventDenied, map[string]string{"tool": "x"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// noClaims is a store from which no worker claims anything.
type noClaims struct{ webhook.Store }

func (noClaims) Claim(context.Context, time.Time, time.Time, int) ([]webhook.Message, error) {
	return nil, nil
}

// BenchmarkDeliver measures outbox throughput to a local receiver: each
// op is one message claimed, signed, sent and recorded.
func BenchmarkDeliver(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, storetest.Open(b, d))
			r := newReceiver(b)
			s := e.service(b)
			if _, _, err := s.UpdateSettings(b.Context(), e.ten, "key", webhook.Update{URL: ptr(r.srv.URL)}); err != nil {
				b.Fatal(err)
			}
			s.Close() // fill the outbox first, then time delivery alone
			n := b.N
			for i := range n {
				if err := s.Emit(b.Context(), e.ten, webhook.EventDenied, map[string]int{"n": i}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			s2 := e.service(b)
			r.awaitRequests(n)
			b.StopTimer()
			s2.Close()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
