package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/webhook"
)

// DashboardSettingsRequest is the body of POST (or PATCH)
// /dashboard/settings. Omitted fields keep their value. An empty
// webhook_url removes the webhook. Without webhook_secret, a new webhook
// gets a generated secret, returned once in the response.
type DashboardSettingsRequest struct {
	WebhookURL    *string   `json:"webhook_url"`
	WebhookSecret *string   `json:"webhook_secret"`
	WebhookEvents *[]string `json:"webhook_events"`
}

// DashboardSettingsResponse is the tenant's webhook settings. The secret
// is never included, except WebhookSecret right after it was generated.
type DashboardSettingsResponse struct {
	WebhookURL string `json:"webhook_url"`
	// WebhookEvents are the subscribed events; empty means all of them.
	WebhookEvents          []string   `json:"webhook_events"`
	WebhookEventsAvailable []string   `json:"webhook_events_available"`
	WebhookSecretSet       bool       `json:"webhook_secret_set"`
	WebhookSecret          string     `json:"webhook_secret,omitempty"`
	UpdatedAt              *time.Time `json:"updated_at,omitempty"`
}

func dashboardSettings(st webhook.Settings, secret string) DashboardSettingsResponse {
	resp := DashboardSettingsResponse{WebhookURL: st.URL, WebhookEvents: nonNilReasons(st.Events),
		WebhookEventsAvailable: webhook.Events(), WebhookSecretSet: st.URL != "", WebhookSecret: secret}
	if !st.UpdatedAt.IsZero() {
		resp.UpdatedAt = &st.UpdatedAt
	}
	return resp
}

func (s *Server) webhooks() (*webhook.Service, error) {
	if s.Webhooks == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "webhooks are not configured")
	}
	return s.Webhooks, nil
}

// getDashboardSettings serves GET /dashboard/settings.
func (s *Server) getDashboardSettings(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	st, err := svc.Settings(r.Context(), p.TenantID)
	if err != nil && !vargate.IsKind(err, vargate.KindNotFound) {
		return err
	}
	writeJSON(w, http.StatusOK, dashboardSettings(st, ""))
	return nil
}

// updateDashboardSettings serves POST and PATCH /dashboard/settings.
func (s *Server) updateDashboardSettings(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	var req DashboardSettingsRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	st, secret, err := svc.UpdateSettings(r.Context(), p.TenantID, p.KeyID,
		webhook.Update{URL: req.WebhookURL, Secret: req.WebhookSecret, Events: req.WebhookEvents})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dashboardSettings(st, secret))
	return nil
}

// DeliveryResponse is one message of the delivery log. Attempts is set by
// GET /webhooks/deliveries/{id}.
type DeliveryResponse struct {
	webhook.Message
	Payload  json.RawMessage   `json:"payload"`
	Attempts []webhook.Attempt `json:"attempt_log,omitempty"`
}

// DeliveryListResponse is GET /webhooks/deliveries, newest first.
// NextBefore, when set, fetches the next (older) page as ?before=….
type DeliveryListResponse struct {
	Deliveries []DeliveryResponse `json:"deliveries"`
	Count      int                `json:"count"`
	NextBefore string             `json:"next_before,omitempty"`
}

// listWebhookDeliveries serves GET /webhooks/deliveries?status=&event=&limit=&before=.
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := webhook.MessageFilter{Status: webhook.Status(q.Get("status")), Event: q.Get("event")}
	switch f.Status {
	case "", webhook.StatusPending, webhook.StatusDelivered, webhook.StatusFailed, webhook.StatusCancelled:
	default:
		return vargate.Invalid("status", "must be pending, delivered, failed or cancelled")
	}
	if f.Limit, err = queryLimit(q, webhook.MaxListLimit); err != nil {
		return err
	}
	if f.Before, err = queryBefore(q); err != nil {
		return err
	}
	ms, err := svc.Deliveries(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	resp := DeliveryListResponse{Deliveries: make([]DeliveryResponse, 0, len(ms)), Count: len(ms)}
	for _, m := range ms {
		resp.Deliveries = append(resp.Deliveries, DeliveryResponse{Message: m, Payload: m.Payload})
	}
	if len(ms) > 0 && len(ms) == f.EffectiveLimit() {
		resp.NextBefore = ms[len(ms)-1].CreatedAt.Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getWebhookDelivery serves GET /webhooks/deliveries/{id} with its attempts.
func (s *Server) getWebhookDelivery(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	m, as, err := svc.Delivery(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeliveryResponse{Message: m, Payload: m.Payload, Attempts: as})
	return nil
}

// retryWebhookDelivery serves POST /webhooks/deliveries/{id}/retry: a
// failed or cancelled delivery is queued again (a day of retries).
func (s *Server) retryWebhookDelivery(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	m, err := svc.Retry(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeliveryResponse{Message: m, Payload: m.Payload})
	return nil
}

// testWebhook serves POST /webhooks/test: a signed webhook.test event is
// sent at once; the answer says how the endpoint responded.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	// The test has no parameters: an empty body or {} (anything else is
	// a client that thinks it is configuring something, and is told so).
	var none struct{}
	if err := decodeJSON(r, &none, true); err != nil {
		return err
	}
	m, err := svc.Test(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeliveryResponse{Message: m, Payload: m.Payload})
	return nil
}
