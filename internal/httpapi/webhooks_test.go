package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/webhook"
)

func TestDashboardSettingsAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Approvals: true})
	r := e.do(t, "acme/auditor", "GET", "/dashboard/settings", "", nil)
	got := decode[httpapi.DashboardSettingsResponse](t, r.raw)
	if r.status != http.StatusOK || got.WebhookURL != "" || got.WebhookSecretSet || len(got.WebhookEventsAvailable) != len(webhook.Events()) {
		t.Errorf("no settings yet: %d %s", r.status, r.raw)
	}
	for _, who := range []string{"acme/auditor", "acme/approver", "acme/agent", "acme/session"} {
		if r := e.do(t, who, "POST", "/dashboard/settings", `{"webhook_url":"http://127.0.0.1:1/"}`, nil); r.status != http.StatusForbidden {
			t.Errorf("settings as %s: %d, want 403", who, r.status)
		}
	}
	secret := webhook.NewSecret()
	r = e.do(t, "acme/admin", "POST", "/dashboard/settings",
		`{"webhook_url":"http://127.0.0.1:1/hook","webhook_secret":"`+secret+`","webhook_events":["action.pending_approval","action.denied"]}`, nil)
	got = decode[httpapi.DashboardSettingsResponse](t, r.raw)
	if r.status != http.StatusOK || got.WebhookSecret != "" || !got.WebhookSecretSet || len(got.WebhookEvents) != 2 {
		t.Errorf("set with own secret: %d %s", r.status, r.raw)
	}
	r = e.do(t, "acme/admin", "PATCH", "/api/dashboard/settings", `{"webhook_events":[]}`, nil)
	got = decode[httpapi.DashboardSettingsResponse](t, r.raw)
	if r.status != http.StatusOK || len(got.WebhookEvents) != 0 || got.WebhookURL != "http://127.0.0.1:1/hook" {
		t.Errorf("patch events: %d %s", r.status, r.raw)
	}
	r = e.do(t, "acme/approver", "GET", "/dashboard/settings", "", nil)
	if r.status != http.StatusOK || strings.Contains(string(r.raw), secret[6:]) || strings.Contains(string(r.raw), "whsec_") {
		t.Errorf("GET shows the secret: %s", r.raw)
	}
	for _, c := range []struct{ body, field string }{
		{`{"webhook_url":"ftp://x"}`, "webhook_url"},
		{`{"webhook_secret":"whsec_..."}`, "webhook_secret"},
		{`{"webhook_events":["action.pending"]}`, "webhook_events"},
		{`{"public_dashboard":true}`, "public_dashboard"},
	} {
		r := e.do(t, "acme/admin", "POST", "/dashboard/settings", c.body, nil)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.raw), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", c.body, r.status, r.raw)
		}
		if strings.Contains(string(r.raw), "whsec_...") {
			t.Errorf("error quotes the secret: %s", r.raw)
		}
	}
	if r := e.do(t, "acme/admin", "POST", "/dashboard/settings", `{"webhook_url":""}`, nil); r.status != http.StatusOK {
		t.Errorf("remove: %d %s", r.status, r.raw)
	}
	r = e.do(t, "acme/admin", "GET", "/dashboard/settings", "", nil)
	if decode[httpapi.DashboardSettingsResponse](t, r.raw).WebhookSecretSet {
		t.Errorf("after removal: %s", r.raw)
	}
	// Tenant B sees none of it.
	r = e.do(t, "globex/admin", "GET", "/dashboard/settings", "", nil)
	if decode[httpapi.DashboardSettingsResponse](t, r.raw).WebhookURL != "" {
		t.Errorf("tenant b: %s", r.raw)
	}
}

func TestWebhookDeliveriesAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Approvals: true})
	var up atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()
	if r := e.do(t, "acme/admin", "POST", "/webhooks/test", "", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("test ping without settings: %d", r.status)
	}
	if r := e.do(t, "acme/admin", "POST", "/dashboard/settings", `{"webhook_url":"`+recv.URL+`"}`, nil); r.status != http.StatusOK {
		t.Fatalf("settings: %d %s", r.status, r.raw)
	}
	r := e.do(t, "acme/admin", "POST", "/webhooks/test", "", nil)
	ping := decode[httpapi.DeliveryResponse](t, r.raw)
	if r.status != http.StatusOK || ping.Status != webhook.StatusFailed || ping.LastStatusCode != http.StatusInternalServerError || ping.Event != webhook.EventTest {
		t.Errorf("failed ping: %d %s", r.status, r.raw)
	}
	up.Store(true)
	r = e.do(t, "acme/admin", "POST", "/api/webhooks/test", "", nil)
	if d := decode[httpapi.DeliveryResponse](t, r.raw); r.status != http.StatusOK || d.Status != webhook.StatusDelivered {
		t.Errorf("ping: %d %s", r.status, r.raw)
	}
	if r := e.do(t, "acme/approver", "POST", "/webhooks/test", "", nil); r.status != http.StatusForbidden {
		t.Errorf("ping as approver: %d", r.status)
	}

	r = e.do(t, "acme/auditor", "GET", "/webhooks/deliveries?event=webhook.test", "", nil)
	list := decode[httpapi.DeliveryListResponse](t, r.raw)
	if r.status != http.StatusOK || list.Count != 2 || !strings.Contains(string(list.Deliveries[0].Payload), `"type":"webhook.test"`) {
		t.Fatalf("deliveries: %d %s", r.status, r.raw)
	}
	r = e.do(t, "acme/auditor", "GET", "/webhooks/deliveries/"+ping.ID, "", nil)
	d := decode[httpapi.DeliveryResponse](t, r.raw)
	if r.status != http.StatusOK || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != http.StatusInternalServerError || d.Attempts[0].URL != recv.URL {
		t.Errorf("delivery detail: %d %s", r.status, r.raw)
	}
	if r := e.do(t, "globex/admin", "GET", "/webhooks/deliveries/"+ping.ID, "", nil); r.status != http.StatusNotFound {
		t.Errorf("another tenant's delivery: %d", r.status)
	}
	// A failed delivery can be queued again.
	if r := e.do(t, "acme/admin", "POST", "/webhooks/deliveries/"+ping.ID+"/retry", "", nil); r.status != http.StatusOK {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	testwait.For(t, 10*time.Second, "the retried delivery to be delivered", func() bool {
		var d httpapi.DeliveryResponse
		e.do(t, "acme/auditor", "GET", "/webhooks/deliveries/"+ping.ID, "", &d)
		return d.Status == webhook.StatusDelivered
	})
	if r := e.do(t, "acme/admin", "POST", "/webhooks/deliveries/"+ping.ID+"/retry", "", nil); r.status != http.StatusConflict {
		t.Errorf("retry a delivered message: %d, want 409", r.status)
	}
	if r := e.do(t, "acme/admin", "GET", "/webhooks/deliveries?status=bogus", "", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad status filter: %d", r.status)
	}
}
