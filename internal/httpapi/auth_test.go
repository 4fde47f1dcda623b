package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// fixture is an API over a fresh SQLite store with two tenants.
type fixture struct {
	srv  *httptest.Server
	auth *auth.Service
	keys map[string]string // "acme/admin" → secret
	ids  map[string]string // "acme/admin" → key ID
	tids map[string]string // tenant name → ID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.Open(t, sqlstore.SQLite)
	svc := auth.NewService(sqlstore.NewAuthStore(db))
	f := &fixture{auth: svc, keys: map[string]string{}, ids: map[string]string{}, tids: map[string]string{}}
	for _, name := range []string{"acme", "globex"} {
		tn, err := svc.CreateTenant(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		f.tids[name] = tn.ID
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleApprover, vargate.RoleAuditor, vargate.RoleAgent} {
			req := auth.KeyRequest{TenantID: tn.ID, Role: role}
			if role == vargate.RoleAgent {
				req.AgentID = "agent-x"
			}
			k, secret, err := svc.CreateKey(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			f.keys[name+"/"+string(role)] = secret
			f.ids[name+"/"+string(role)] = k.ID
		}
	}
	api := &httpapi.Server{Auth: svc, Ping: db.Ping, MaxBodyBytes: 4096}
	f.srv = httptest.NewServer(api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (f *fixture) call(t *testing.T, method, path string, headers map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return response{resp.StatusCode, resp.Header, m}
}

func key(k string) map[string]string { return map[string]string{"X-API-Key": k} }

func errorField(r response, name string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
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
		{"admin via X-API-Key", key(f.keys["acme/admin"]), 200},
		{"admin via Bearer", map[string]string{"Authorization": "Bearer " + f.keys["acme/admin"]}, 200},
		{"auditor reads", key(f.keys["acme/auditor"]), 200},
		{"agent key may not use the control plane", key(f.keys["acme/agent"]), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, prefix := range []string{"", "/api"} {
				r := f.call(t, "GET", prefix+"/tenant", tt.headers, "")
				if r.status != tt.want {
					t.Fatalf("GET %s/tenant = %d %v, want %d", prefix, r.status, r.body, tt.want)
				}
				if tt.want == 401 {
					if r.header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
					if errorField(r, "code") != "unauthorized" {
						t.Errorf("error body = %v", r.body)
					}
				}
			}
		})
	}
}

func TestRolesAndTenantIsolation(t *testing.T) {
	f := newFixture(t)
	// Only admins manage keys.
	for _, role := range []string{"approver", "auditor", "agent"} {
		r := f.call(t, "POST", "/keys", key(f.keys["acme/"+role]), `{"role":"auditor"}`)
		if r.status != 403 || errorField(r, "code") != "forbidden" {
			t.Errorf("%s creating a key: %d %v, want 403", role, r.status, r.body)
		}
	}
	// Each tenant sees its own tenant and keys only.
	r := f.call(t, "GET", "/tenant", key(f.keys["globex/admin"]), "")
	if r.body["name"] != "globex" {
		t.Errorf("globex admin sees tenant %v", r.body["name"])
	}
	r = f.call(t, "GET", "/keys", key(f.keys["globex/admin"]), "")
	for _, k := range r.body["keys"].([]any) {
		if k.(map[string]any)["tenant_id"] != f.tids["globex"] {
			t.Errorf("globex sees key %v", k)
		}
		if _, leaked := k.(map[string]any)["key_hash"]; leaked {
			t.Error("key list exposes the hash")
		}
	}
	// A key of another tenant cannot be revoked.
	r = f.call(t, "DELETE", "/keys/"+f.ids["acme/auditor"], key(f.keys["globex/admin"]), "")
	if r.status != 404 {
		t.Errorf("revoking another tenant's key: %d, want 404", r.status)
	}
	if r := f.call(t, "GET", "/tenant", key(f.keys["acme/auditor"]), ""); r.status != 200 {
		t.Fatalf("acme auditor key broken after foreign revoke attempt: %d", r.status)
	}
	// Revoked keys stop working at once.
	r = f.call(t, "DELETE", "/keys/"+f.ids["acme/auditor"], key(f.keys["acme/admin"]), "")
	if r.status != 200 {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	if r := f.call(t, "GET", "/tenant", key(f.keys["acme/auditor"]), ""); r.status != 401 {
		t.Errorf("revoked key: %d, want 401", r.status)
	}
	// A new key works and is shown once with its prefix.
	r = f.call(t, "POST", "/keys", key(f.keys["acme/admin"]), `{"role":"approver","name":"alice"}`)
	secret, _ := r.body["api_key"].(string)
	if r.status != 201 || !strings.HasPrefix(secret, auth.KeyPrefix) || len(secret) < 40 {
		t.Fatalf("create key: %d %v", r.status, r.body)
	}
	if r := f.call(t, "GET", "/tenant", key(secret), ""); r.status != 200 || r.body["role"] != "approver" {
		t.Errorf("new key: %d %v", r.status, r.body)
	}
}

func TestRequestValidation(t *testing.T) {
	f := newFixture(t)
	admin := map[string]string{"X-API-Key": f.keys["acme/admin"], "Content-Type": "application/json"}
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
			r := f.call(t, "POST", "/keys", admin, tt.body)
			if r.status != tt.status || errorField(r, "field") != tt.field || errorField(r, "code") != tt.wantCode ||
				!strings.Contains(errorField(r, "message"), tt.wantInMsg) {
				t.Errorf("got %d %v, want %d field=%q code=%q message~%q", r.status, r.body, tt.status, tt.field, tt.wantCode, tt.wantInMsg)
			}
			if errorField(r, "request_id") == "" || r.header.Get("X-Request-ID") != errorField(r, "request_id") {
				t.Errorf("request ID missing or inconsistent: header %q body %v", r.header.Get("X-Request-ID"), r.body)
			}
		})
	}
	r := f.call(t, "POST", "/keys", map[string]string{"X-API-Key": f.keys["acme/admin"], "Content-Type": "text/plain"}, `{"role":"auditor"}`)
	if r.status != 415 {
		t.Errorf("text/plain body: %d, want 415", r.status)
	}
	r = f.call(t, "GET", "/no/such/route", key(f.keys["acme/admin"]), "")
	if r.status != 404 || errorField(r, "code") != "not_found" {
		t.Errorf("unknown route: %d %v", r.status, r.body)
	}
	r = f.call(t, "GET", "/health", map[string]string{"X-Request-ID": "trace-123"}, "")
	if r.header.Get("X-Request-ID") != "trace-123" {
		t.Errorf("incoming request ID not kept: %q", r.header.Get("X-Request-ID"))
	}
}

func TestMetricsNeedAKey(t *testing.T) {
	f := newFixture(t)
	if r := f.call(t, "GET", "/metrics", nil, ""); r.status != 401 {
		t.Errorf("anonymous /metrics: %d", r.status)
	}
	f.call(t, "GET", "/health", nil, "")
	f.call(t, "GET", "/tenant", key(f.keys["acme/auditor"]), "")
	req, _ := http.NewRequest("GET", f.srv.URL+"/metrics", nil)
	req.Header.Set("X-API-Key", f.keys["acme/auditor"])
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// The gateway-wide series (every tenant's traffic, unauthenticated
	// requests) are the operator's (MetricsToken), not a tenant's.
	if resp.StatusCode != 200 || strings.Contains(string(b), `route="GET /health"`) || !strings.Contains(string(b), "vargate_tenant_http_requests_total") {
		t.Errorf("a tenant key's metrics (%d):\n%s", resp.StatusCode, b)
	}
}
