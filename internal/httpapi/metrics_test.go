package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestMetricsShowOnlyTheCallersTenant: a tenant's admin key sees its own
// request counts and nothing of another tenant's traffic; auditors likewise; the operator's token sees everything.
func TestMetricsShowOnlyTheCallersTenant(t *testing.T) {
	e := newAPI(t, apiOptions{MetricsToken: "op-token"})
	get := func(path, header, value string) (int, string) {
		t.Helper()
		req := e.request(t, "", "GET", path, "")
		req.Header.Set(header, value)
		r := e.send(t, req, nil)
		return r.status, string(r.raw)
	}
	for range 3 {
		get("/tenant", "X-API-Key", e.keys["acme/admin"])
	}
	get("/tenant", "X-API-Key", e.keys["globex/admin"])

	code, body := get("/metrics", "X-API-Key", e.keys["globex/admin"])
	if code != 200 || !strings.Contains(body, `tenant="`+e.tids["globex"]+`"`) || strings.Contains(body, e.tids["acme"]) || strings.Contains(body, "vargate_http_requests_total") {
		t.Errorf("tenant b's view (%d):\n%s", code, body)
	}
	if code, body := get("/metrics", "X-API-Key", e.keys["acme/auditor"]); code != 200 || strings.Contains(body, e.tids["globex"]) {
		t.Errorf("tenant a's auditor (%d):\n%s", code, body)
	}
	if code, body := get("/metrics", "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", code, body)
	}
	code, body = get("/metrics", "Authorization", "Bearer op-token")
	if code != 200 || !strings.Contains(body, e.tids["acme"]) || !strings.Contains(body, e.tids["globex"]) || !strings.Contains(body, "vargate_http_requests_total") {
		t.Errorf("operator's view (%d):\n%s", code, body)
	}
}
