package webhook_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/webhook"
)

func ptr[T any](v T) *T { return &v }

func TestUpdateSettings(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		al := &auditor{}
		s.Auditor = al
		set, secret, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("http://127.0.0.1:1/hook")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, webhook.SecretPrefix) || set.URL != "http://127.0.0.1:1/hook" || len(set.Events) != 0 {
			t.Fatalf("first settings: %+v, secret %q", set, secret)
		}
		stored, err := sqlstore.NewWebhookStore(e.db).Settings(ctx, e.ten)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored.SecretSealed), secret[len(webhook.SecretPrefix):]) {
			t.Error("secret stored in clear")
		}
		// Changing the events neither regenerates nor returns the secret.
		set, again, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{Events: ptr([]string{webhook.EventDenied, webhook.EventDenied, webhook.EventPendingApproval})})
		if err != nil || again != "" {
			t.Fatalf("update events: %v, secret %q", err, again)
		}
		if diff := cmp.Diff([]string{webhook.EventDenied, webhook.EventPendingApproval}, set.Events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		after, _ := sqlstore.NewWebhookStore(e.db).Settings(ctx, e.ten)
		if string(after.SecretSealed) != string(stored.SecretSealed) {
			t.Error("secret changed by an events update")
		}
		// A given secret is stored, not echoed.
		mine := webhook.NewSecret()
		if _, got, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{Secret: &mine}); err != nil || got != "" {
			t.Errorf("set own secret: %v, echoed %q", err, got)
		}

		for _, c := range []struct {
			name  string
			u     webhook.Update
			field string
		}{
			{"unknown event", webhook.Update{Events: ptr([]string{"action.pending"})}, "webhook_events"},
			{"bad secret", webhook.Update{Secret: ptr("whsec_...")}, "webhook_secret"},
			{"bad url", webhook.Update{URL: ptr("not a url")}, "webhook_url"},
			{"remove with others", webhook.Update{URL: ptr(""), Events: ptr([]string{})}, "webhook_url"},
		} {
			_, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", c.u)
			var ve *vargate.Error
			if !vargate.IsKind(err, vargate.KindInvalid) || !asErr(err, &ve) || ve.Field != c.field {
				t.Errorf("%s: got %v, want invalid %s", c.name, err, c.field)
			}
		}

		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Settings(ctx, e.ten); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("after removal: %v", err)
		}
		var decisions []string
		for _, r := range al.recs {
			decisions = append(decisions, r.Decision)
			if r.Source != audit.SourceControlPlane || r.Actor != "key-admin" || r.TenantID != e.ten {
				t.Errorf("audit record: %+v", r)
			}
			if strings.Contains(string(r.Detail), secret[len(webhook.SecretPrefix):]) || strings.Contains(string(r.Detail), mine[len(webhook.SecretPrefix):]) {
				t.Errorf("audit record holds a secret: %s", r.Detail)
			}
		}
		want := []string{"webhook_settings.updated", "webhook_settings.updated", "webhook_settings.updated", "webhook_settings.removed"}
		if diff := cmp.Diff(want, decisions); diff != "" {
			t.Errorf("audited changes (-want +got):\n%s", diff)
		}
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{Events: ptr([]string{})}); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("events without a URL: got %v, want invalid", err)
		}

		// Private targets are refused unless allowed; secrets need a sealer.
		strict := webhook.New(sqlstore.NewWebhookStore(e.db), vaulttest.NewSealer(), nil)
		if _, _, err := strict.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("https://127.0.0.1/hook")}); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("loopback target: got %v, want invalid", err)
		}
		unsealed := webhook.New(sqlstore.NewWebhookStore(e.db), nil, nil)
		unsealed.AllowPrivate = true
		if _, _, err := unsealed.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("http://127.0.0.1/hook")}); !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("without a sealer: got %v, want unavailable", err)
		}
	})
}

func TestEmitWritesOnlyWhatIsWanted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		store := sqlstore.NewWebhookStore(e.db)
		count := func() int {
			ms, err := store.Messages(ctx, e.ten, webhook.MessageFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return len(ms)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, map[string]string{"tool": "x"}); err != nil || count() != 0 {
			t.Errorf("emit without a webhook: %v, %d messages", err, count())
		}
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("http://127.0.0.1:1/"),
			Events: ptr([]string{webhook.EventPendingApproval})}); err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, nil); err != nil || count() != 0 {
			t.Errorf("unsubscribed event: %v, %d messages", err, count())
		}
		for range 2 {
			if err := s.EmitOnce(ctx, "evt_1", e.ten, webhook.EventPendingApproval, map[string]int{"n": 1}); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(); n != 1 {
			t.Errorf("EmitOnce twice: %d messages, want 1", n)
		}
		if err := s.Emit(ctx, e.ten, "action.pending", nil); err == nil {
			t.Error("unknown event accepted")
		}
	})
}

// TestConcurrentEmit: events emitted at once are all committed (in shared
// transactions), and Close commits what it accepted.
func TestConcurrentEmit(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.service(t)
		if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: ptr("http://127.0.0.1:1/")}); err != nil {
			t.Fatal(err)
		}
		const n = 200
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- s.Emit(ctx, e.ten, webhook.EventDenied, map[string]int{"n": i}) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if err := s.Emit(ctx, e.ten, webhook.EventDenied, nil); err != nil {
			t.Fatalf("emit after close: %v", err)
		}
		ms, err := s.Deliveries(ctx, e.ten, webhook.MessageFilter{Limit: 1000})
		if err != nil || len(ms) != n+1 {
			t.Errorf("outbox holds %d messages, want %d (%v)", len(ms), n+1, err)
		}
	})
}
