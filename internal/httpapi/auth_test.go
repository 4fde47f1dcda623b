package httpapi_test

import (
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/auth"
)

// callWith sends a request with exactly the given headers (no key of
// its own), for tests of the credentials and headers themselves.
func (a *api) callWith(t *testing.T, method, path string, headers map[string]string, body string) response {
	t.Helper()
	req := a.request(t, "", method, path, body)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return a.send(t, req, nil)
}

func key(k string) map[string]string { return map[string]string{"X-API-Key": k} }

func TestAuthentication(t *testing.T) {
	e := newAPI(t, apiOptions{MaxBodyBytes: 4096})
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no key", nil, 401},
		{"empty key", key(""), 401},
		{"malformed key", key("not-a-key"), 401},
		{"unknown key", key(auth.NewToken(auth.KeyPrefix)), 401},
		{"unknown session token", map[string]string{"Authorization": "Bearer " + auth.NewToken(auth.SessionTokenPrefix)}, 401},
		{"admin via X-API-Key", key(e.keys["acme/admin"]), 200},
		{"admin via Bearer", map[string]string{"Authorization": "Bearer " + e.keys["acme/admin"]}, 200},
		{"auditor reads", key(e.keys["acme/auditor"]), 200},
		{"agent key may not use the control plane", key(e.keys["acme/agent"]), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, prefix := range []string{"", "/api"} {
				r := e.callWith(t, "GET", prefix+"/tenant", tt.headers, "")
				if r.status != tt.want {
					t.Fatalf("GET %s/tenant = %d %v, want %d", prefix, r.status, r.body, tt.want)
				}
				if tt.want == 401 {
					if r.header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
					if r.errorField("code") != "unauthorized" {
						t.Errorf("error body = %v", r.body)
					}
				}
			}
		})
	}
}

func TestRolesAndTenantIsolation(t *testing.T) {
	e := newAPI(t, apiOptions{MaxBodyBytes: 4096})
	// Only admins manage keys.
	for _, role := range []string{"approver", "auditor", "agent"} {
		r := e.callWith(t, "POST", "/keys", key(e.keys["acme/"+role]), `{"role":"auditor"}`)
		if r.status != 403 || r.errorField("code") != "forbidden" {
			t.Errorf("%s creating a key: %d %v, want 403", role, r.status, r.body)
		}
	}
	// Each tenant sees its own tenant and keys only.
	r := e.callWith(t, "GET", "/tenant", key(e.keys["globex/admin"]), "")
	if r.body["name"] != "globex" {
		t.Errorf("globex admin sees tenant %v", r.body["name"])
	}
	r = e.callWith(t, "GET", "/keys", key(e.keys["globex/admin"]), "")
	for _, k := range r.body["keys"].([]any) {
		if k.(map[string]any)["tenant_id"] != e.tids["globex"] {
			t.Errorf("globex sees key %v", k)
		}
		if _, leaked := k.(map[string]any)["key_hash"]; leaked {
			t.Error("key list exposes the hash")
		}
	}
	// A key of another tenant cannot be revoked.
	r = e.callWith(t, "DELETE", "/keys/"+e.ids["acme/auditor"], key(e.keys["globex/admin"]), "")
	if r.status != 404 {
		t.Errorf("revoking another tenant's key: %d, want 404", r.status)
	}
	if r := e.callWith(t, "GET", "/tenant", key(e.keys["acme/auditor"]), ""); r.status != 200 {
		t.Fatalf("acme auditor key broken after foreign revoke attempt: %d", r.status)
	}
	// Revoked keys stop working at once.
	r = e.callWith(t, "DELETE", "/keys/"+e.ids["acme/auditor"], key(e.keys["acme/admin"]), "")
	if r.status != 200 {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	if r := e.callWith(t, "GET", "/tenant", key(e.keys["acme/auditor"]), ""); r.status != 401 {
		t.Errorf("revoked key: %d, want 401", r.status)
	}
	// A new key works and is shown once with its prefix.
	r = e.callWith(t, "POST", "/keys", key(e.keys["acme/admin"]), `{"role":"approver","name":"alice"}`)
	secret, _ := r.body["api_key"].(string)
	if r.status != 201 || !strings.HasPrefix(secret, auth.KeyPrefix) || len(secret) < 40 {
		t.Fatalf("create key: %d %v", r.status, r.body)
	}
	if r := e.callWith(t, "GET", "/tenant", key(secret), ""); r.status != 200 || r.body["role"] != "approver" {
		t.Errorf("new key: %d %v", r.status, r.body)
	}
}

func TestRequestValidation(t *testing.T) {
	e := newAPI(t, apiOptions{MaxBodyBytes: 4096})
	admin := map[string]string{"X-API-Key": e.keys["acme/admin"], "Content-Type": "application/json"}
	tests := []struct {
		name      string
		body      string
		status    int
		field     string
		wantCode  string
		wantInMsg string
	}{
		{"unknown field", `{"role":"auditor","colour":"red"}`, 422, "colour", "invalid", "unknown field"},
		{"wrong type", `{"role":5}`, 422, "role", "invalid", "string"},
		{"bad role", `{"role":"root"}`, 422, "role", "invalid", "admin"},
		{"agent without agent_id", `{"role":"agent"}`, 422, "agent_id", "invalid", "bound"},
		{"malformed", `{"role":`, 422, "body", "invalid", "JSON"},
		{"trailing data", `{"role":"auditor"} {}`, 422, "body", "invalid", "after"},
		{"empty", ``, 422, "body", "invalid", "required"},
		{"too large", `{"name":"` + strings.Repeat("x", 5000) + `"}`, 413, "", "too_large", "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.callWith(t, "POST", "/keys", admin, tt.body)
			if r.status != tt.status || r.errorField("field") != tt.field || r.errorField("code") != tt.wantCode ||
				!strings.Contains(r.errorField("message"), tt.wantInMsg) {
				t.Errorf("got %d %v, want %d field=%q code=%q message~%q", r.status, r.body, tt.status, tt.field, tt.wantCode, tt.wantInMsg)
			}
			if r.errorField("request_id") == "" || r.header.Get("X-Request-ID") != r.errorField("request_id") {
				t.Errorf("request ID missing or inconsistent: header %q body %v", r.header.Get("X-Request-ID"), r.body)
			}
		})
	}
	r := e.callWith(t, "POST", "/keys", map[string]string{"X-API-Key": e.keys["acme/admin"], "Content-Type": "text/plain"}, `{"role":"auditor"}`)
	if r.status != 415 {
		t.Errorf("text/plain body: %d, want 415", r.status)
	}
	r = e.callWith(t, "GET", "/no/such/route", key(e.keys["acme/admin"]), "")
	if r.status != 404 || r.errorField("code") != "not_found" {
		t.Errorf("unknown route: %d %v", r.status, r.body)
	}
	r = e.callWith(t, "GET", "/health", map[string]string{"X-Request-ID": "trace-123"}, "")
	if r.header.Get("X-Request-ID") != "trace-123" {
		t.Errorf("incoming request ID not kept: %q", r.header.Get("X-Request-ID"))
	}
}

func TestMetricsNeedAKey(t *testing.T) {
	e := newAPI(t, apiOptions{MaxBodyBytes: 4096})
	if r := e.callWith(t, "GET", "/metrics", nil, ""); r.status != 401 {
		t.Errorf("anonymous /metrics: %d", r.status)
	}
	e.callWith(t, "GET", "/health", nil, "")
	e.callWith(t, "GET", "/tenant", key(e.keys["acme/auditor"]), "")
	r := e.do(t, "acme/auditor", "GET", "/metrics", "", nil)
	b := r.raw
	// The gateway-wide series (every tenant's traffic, unauthenticated
	// requests) are the operator's (MetricsToken), not a tenant's.
	if r.status != 200 || strings.Contains(string(b), `route="GET /health"`) || !strings.Contains(string(b), "vargate_tenant_http_requests_total") {
		t.Errorf("a tenant key's metrics (%d):\n%s", r.status, b)
	}
}
