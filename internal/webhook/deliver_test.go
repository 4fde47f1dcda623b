package webhook_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/webhook"
)

func TestDeliverSigned(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		r := newReceiver(t)
		_, secret, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(r.srv.URL + "/hook")})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, map[string]any{"tool": "send_email", "reasons": []string{"no"}}); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "delivery", func() bool { return len(r.requests()) == 1 })
		got := r.requests()[0]
		lib, _ := standardwebhooks.NewWebhook(secret)
		if err := lib.Verify(got.body, got.header); err != nil {
			t.Errorf("signature: %v", err)
		}
		var p struct {
			Type      string
			Timestamp time.Time
			Data      map[string]any
		}
		if err := json.Unmarshal(got.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != webhook.EventDenied || p.Data["tool"] != "send_email" || p.Timestamp.IsZero() {
			t.Errorf("payload: %s", got.body)
		}
		if ct := got.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		id := got.header.Get(webhook.HeaderID)
		testwait.For(t, 5*time.Second, "delivered status", func() bool {
			m, _, err := s.Delivery(ctx, e.ten, id)
			return err == nil && m.Status == webhook.StatusDelivered
		})
		m, attempts, _ := s.Delivery(ctx, e.ten, id)
		if m.Attempts != 1 || len(attempts) != 1 || attempts[0].StatusCode != http.StatusNoContent || attempts[0].URL != r.srv.URL+"/hook" {
			t.Errorf("log: %+v %+v", m, attempts)
		}
	})
}

// TestReceiverDownThenBack: events emitted while the endpoint is down,
// across a gateway restart, all arrive once it is back.
func TestReceiverDownThenBack(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		r := newReceiver(t)
		r.down.Store(true)
		_, secret, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(r.srv.URL)})
		if err != nil {
			t.Fatal(err)
		}
		const n = 30
		for i := range n / 2 {
			if err := s.Emit(ctx, e.ten, webhook.EventPendingApproval, map[string]int{"n": i}); err != nil {
				t.Fatal(err)
			}
		}
		store := sqlstore.NewWebhookStore(e.db)
		testwait.For(t, 10*time.Second, "retries while down", func() bool {
			ms, _ := store.Messages(ctx, e.ten, webhook.MessageFilter{})
			for _, m := range ms {
				if m.Attempts < 3 {
					return false
				}
			}
			return true
		})
		s.Close() // the gateway restarts while the endpoint is still down
		for i := n / 2; i < n; i++ {
			if err := s.Emit(ctx, e.ten, webhook.EventPendingApproval, map[string]int{"n": i}); err != nil {
				t.Fatal(err)
			}
		}
		s2 := e.service(t)
		testwait.For(t, 10*time.Second, "the restarted gateway to try every event while still down", func() bool {
			ms, _ := store.Messages(ctx, e.ten, webhook.MessageFilter{})
			for _, m := range ms {
				if m.Attempts < 1 {
					return false
				}
			}
			return len(ms) == n
		})
		r.down.Store(false)
		testwait.For(t, 30*time.Second, "every event", func() bool {
			ms, _ := s2.Deliveries(ctx, e.ten, webhook.MessageFilter{Status: webhook.StatusDelivered})
			return len(ms) == n
		})
		lib, _ := standardwebhooks.NewWebhook(secret)
		seen := map[string]bool{}
		ns := map[float64]bool{}
		for _, req := range r.requests() {
			if err := lib.Verify(req.body, req.header); err != nil {
				t.Errorf("signature: %v", err)
			}
			seen[req.header.Get(webhook.HeaderID)] = true
			var p struct{ Data map[string]float64 }
			_ = json.Unmarshal(req.body, &p)
			ns[p.Data["n"]] = true
		}
		if len(seen) != n || len(ns) != n {
			t.Errorf("received %d distinct messages (%d distinct events), want %d", len(seen), len(ns), n)
		}
		ms, _ := s2.Deliveries(ctx, e.ten, webhook.MessageFilter{Limit: 1000})
		maxAttempts := 0
		for _, m := range ms {
			maxAttempts = max(maxAttempts, m.Attempts)
		}
		t.Logf("%d events delivered after up to %d attempts", len(ms), maxAttempts)
	})
}

func TestGiveUpAndRetry(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		s.MaxAge = 150 * time.Millisecond
		r := newReceiver(t)
		r.down.Store(true)
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(r.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, nil); err != nil {
			t.Fatal(err)
		}
		var m webhook.Message
		testwait.For(t, 10*time.Second, "giving up", func() bool {
			ms, _ := s.Deliveries(ctx, e.ten, webhook.MessageFilter{})
			m = ms[0]
			return m.Status == webhook.StatusFailed
		})
		// How many attempts fit in MaxAge depends on how busy the machine
		// is; what must hold is that it tried, then gave up with the reason.
		if m.Attempts < 1 || !strings.Contains(m.LastError, "giving up") || m.LastStatusCode != http.StatusServiceUnavailable {
			t.Errorf("gave up: %+v", m)
		}
		r.down.Store(false)
		if _, err := s.Retry(ctx, e.ten, m.ID); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "manual retry", func() bool {
			got, _, _ := s.Delivery(ctx, e.ten, m.ID)
			return got.Status == webhook.StatusDelivered
		})
	})
}

func TestGoneIsNotRetried(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		r := newReceiver(t)
		r.code.Store(http.StatusGone)
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(r.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, nil); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "failure", func() bool {
			ms, _ := s.Deliveries(ctx, e.ten, webhook.MessageFilter{Status: webhook.StatusFailed})
			return len(ms) == 1 && ms[0].Attempts == 1
		})
	})
}

func TestRemovedWebhookCancelsPending(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		r := newReceiver(t)
		r.down.Store(true)
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(r.srv.URL)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("")}); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "cancellation", func() bool {
			ms, _ := s.Deliveries(ctx, e.ten, webhook.MessageFilter{Status: webhook.StatusCancelled})
			return len(ms) == 1
		})
	})
}

func TestPing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		if _, err := s.Test(ctx, e.ten); err == nil {
			t.Error("test ping without a webhook succeeded")
		}
		r := newReceiver(t)
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(r.srv.URL),
			Events: ptr([]string{webhook.EventDenied})}); err != nil {
			t.Fatal(err)
		}
		m, err := s.Test(ctx, e.ten)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != webhook.StatusDelivered || m.Event != webhook.EventTest || m.LastStatusCode != http.StatusNoContent {
			t.Errorf("ping: %+v", m)
		}
		r.down.Store(true)
		m, err = s.Test(ctx, e.ten)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != webhook.StatusFailed || m.LastStatusCode != http.StatusServiceUnavailable || m.Attempts != 1 {
			t.Errorf("failed ping: %+v", m)
		}
		// Never retried: finished, and no worker can claim it however
		// late it looks (a year on, past any backoff or lease).
		if m.FinishedAt == nil {
			t.Errorf("failed ping not finished: %+v", m)
		}
		later := time.Now().AddDate(1, 0, 0)
		due, err := sqlstore.NewWebhookStore(e.db).Claim(ctx, later, later.Add(time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range due {
			if d.ID == m.ID {
				t.Errorf("a failed ping is still due for a retry: %+v", d)
			}
		}
		if _, as, _ := s.Delivery(ctx, e.ten, m.ID); len(as) != 1 {
			t.Errorf("a failed ping was retried: %d attempts", len(as))
		}
	})
}

// TestDialRefusesPrivateTargets: an endpoint whose name resolved to a
// public address when it was saved but to loopback at delivery (DNS
// rebinding), or one written to the store directly, is not reached.
func TestDialRefusesPrivateTargets(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		r := newReceiver(t)
		s := webhook.New(sqlstore.NewWebhookStore(e.db), vaulttest.NewSealer(), nil)
		s.PollInterval = 10 * time.Millisecond
		s.Resolver = resolver{netip.MustParseAddr("93.184.216.34")} // what the name "was" at save time
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		port := r.srv.URL[strings.LastIndex(r.srv.URL, ":")+1:]
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr(fmt.Sprintf("https://localhost:%s/hook", port))}); err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, nil); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "a refused attempt", func() bool {
			ms, _ := s.Deliveries(ctx, e.ten, webhook.MessageFilter{})
			return len(ms) == 1 && ms[0].Attempts >= 1 && strings.Contains(ms[0].LastError, "webhook target refused") && strings.Contains(ms[0].LastError, "is a loopback address")
		})
		if n := len(r.requests()); n != 0 {
			t.Errorf("the private endpoint received %d requests", n)
		}
	})
}
