package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/webhook"
)

func TestDashboardSettingsAPI(t *testing.T) {
	e := newApprovalEnv(t)
	code, body := e.do(t, "a-auditor", "GET", "/dashboard/settings", "")
	got := decode[httpapi.DashboardSettingsResponse](t, body)
	if code != http.StatusOK || got.WebhookURL != "" || got.WebhookSecretSet || len(got.WebhookEventsAvailable) != len(webhook.Events()) {
		t.Errorf("no settings yet: %d %s", code, body)
	}
	for _, who := range []string{"a-auditor", "a-approver", "a-agent", "a-session"} {
		if code, _ := e.do(t, who, "POST", "/dashboard/settings", `{"webhook_url":"http://127.0.0.1:1/"}`); code != http.StatusForbidden {
			t.Errorf("settings as %s: %d, want 403", who, code)
		}
	}
	secret := webhook.NewSecret()
	code, body = e.do(t, "a-admin", "POST", "/dashboard/settings",
		`{"webhook_url":"http://127.0.0.1:1/hook","webhook_secret":"`+secret+`","webhook_events":["action.pending_approval","action.denied"]}`)
	got = decode[httpapi.DashboardSettingsResponse](t, body)
	if code != http.StatusOK || got.WebhookSecret != "" || !got.WebhookSecretSet || len(got.WebhookEvents) != 2 {
		t.Errorf("set with own secret: %d %s", code, body)
	}
	code, body = e.do(t, "a-admin", "PATCH", "/api/dashboard/settings", `{"webhook_events":[]}`)
	got = decode[httpapi.DashboardSettingsResponse](t, body)
	if code != http.StatusOK || len(got.WebhookEvents) != 0 || got.WebhookURL != "http://127.0.0.1:1/hook" {
		t.Errorf("patch events: %d %s", code, body)
	}
	code, body = e.do(t, "a-approver", "GET", "/dashboard/settings", "")
	if code != http.StatusOK || strings.Contains(string(body), secret[6:]) || strings.Contains(string(body), "whsec_") {
		t.Errorf("GET shows the secret: %s", body)
	}
	for _, c := range []struct{ body, field string }{
		{`{"webhook_url":"ftp://x"}`, "webhook_url"},
		{`{"webhook_secret":"whsec_..."}`, "webhook_secret"},
		{`{"webhook_events":["action.pending"]}`, "webhook_events"},
		{`{"public_dashboard":true}`, "public_dashboard"},
	} {
		code, body := e.do(t, "a-admin", "POST", "/dashboard/settings", c.body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", c.body, code, body)
		}
		if strings.Contains(string(body), "whsec_...") {
			t.Errorf("error quotes the secret: %s", body)
		}
	}
	if code, body := e.do(t, "a-admin", "POST", "/dashboard/settings", `{"webhook_url":""}`); code != http.StatusOK {
		t.Errorf("remove: %d %s", code, body)
	}
	_, body = e.do(t, "a-admin", "GET", "/dashboard/settings", "")
	if decode[httpapi.DashboardSettingsResponse](t, body).WebhookSecretSet {
		t.Errorf("after removal: %s", body)
	}
	// Tenant B sees none of it.
	_, body = e.do(t, "b-admin", "GET", "/dashboard/settings", "")
	if decode[httpapi.DashboardSettingsResponse](t, body).WebhookURL != "" {
		t.Errorf("tenant b: %s", body)
	}
}

func TestWebhookDeliveriesAPI(t *testing.T) {
	e := newApprovalEnv(t)
	var up atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()
	if code, _ := e.do(t, "a-admin", "POST", "/webhooks/test", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("test ping without settings: %d", code)
	}
	if code, body := e.do(t, "a-admin", "POST", "/dashboard/settings", `{"webhook_url":"`+recv.URL+`"}`); code != http.StatusOK {
		t.Fatalf("settings: %d %s", code, body)
	}
	code, body := e.do(t, "a-admin", "POST", "/webhooks/test", "")
	ping := decode[httpapi.DeliveryResponse](t, body)
	if code != http.StatusOK || ping.Status != webhook.StatusFailed || ping.LastStatusCode != http.StatusInternalServerError || ping.Event != webhook.EventTest {
		t.Errorf("failed ping: %d %s", code, body)
	}
	up.Store(true)
	code, body = e.do(t, "a-admin", "POST", "/api/webhooks/test", "")
	if d := decode[httpapi.DeliveryResponse](t, body); code != http.StatusOK || d.Status != webhook.StatusDelivered {
		t.Errorf("ping: %d %s", code, body)
	}
	if code, _ := e.do(t, "a-approver", "POST", "/webhooks/test", ""); code != http.StatusForbidden {
		t.Errorf("ping as approver: %d", code)
	}

	code, body = e.do(t, "a-auditor", "GET", "/webhooks/deliveries?event=webhook.test", "")
	list := decode[httpapi.DeliveryListResponse](t, body)
	if code != http.StatusOK || list.Count != 2 || !strings.Contains(string(list.Deliveries[0].Payload), `"type":"webhook.test"`) {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	code, body = e.do(t, "a-auditor", "GET", "/webhooks/deliveries/"+ping.ID, "")
	d := decode[httpapi.DeliveryResponse](t, body)
	if code != http.StatusOK || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != http.StatusInternalServerError || d.Attempts[0].URL != recv.URL {
		t.Errorf("delivery detail: %d %s", code, body)
	}
	if code, _ := e.do(t, "b-admin", "GET", "/webhooks/deliveries/"+ping.ID, ""); code != http.StatusNotFound {
		t.Errorf("another tenant's delivery: %d", code)
	}
	// A failed delivery can be queued again.
	if code, body := e.do(t, "a-admin", "POST", "/webhooks/deliveries/"+ping.ID+"/retry", ""); code != http.StatusOK {
		t.Fatalf("retry: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = e.do(t, "a-auditor", "GET", "/webhooks/deliveries/"+ping.ID, "")
		if decode[httpapi.DeliveryResponse](t, body).Status == webhook.StatusDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retried delivery: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := e.do(t, "a-admin", "POST", "/webhooks/deliveries/"+ping.ID+"/retry", ""); code != http.StatusConflict {
		t.Errorf("retry a delivered message: %d, want 409", code)
	}
	if code, _ := e.do(t, "a-admin", "GET", "/webhooks/deliveries?status=bogus", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("bad status filter: %d", code)
	}
}
