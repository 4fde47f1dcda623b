package httpapi_test

import (
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

// TestMetricsShowOnlyTheCallersTenant: a tenant's admin key sees its own
// request counts and nothing of another tenant's traffic; auditors likewise; the operator's token sees everything.
func TestMetricsShowOnlyTheCallersTenant(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t, sqlstore.SQLite)
	as := auth.NewService(sqlstore.NewAuthStore(db))
	keys := map[string]string{}
	tenants := map[string]string{}
	for _, name := range []string{"a", "b"} {
		ten, err := as.CreateTenant(ctx, "tenant-"+name)
		if err != nil {
			t.Fatal(err)
		}
		tenants[name] = ten.ID
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleAuditor} {
			_, secret, err := as.CreateKey(ctx, auth.KeyRequest{TenantID: ten.ID, Role: role})
			if err != nil {
				t.Fatal(err)
			}
			keys[name+"-"+string(role)] = secret
		}
	}
	srv := httptest.NewServer((&httpapi.Server{Auth: as, Ping: db.Ping, MetricsToken: "op-token"}).Handler())
	t.Cleanup(srv.Close)
	get := func(path, header, value string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for range 3 {
		get("/tenant", "X-API-Key", keys["a-admin"])
	}
	get("/tenant", "X-API-Key", keys["b-admin"])

	code, body := get("/metrics", "X-API-Key", keys["b-admin"])
	if code != 200 || !strings.Contains(body, `tenant="`+tenants["b"]+`"`) || strings.Contains(body, tenants["a"]) || strings.Contains(body, "vargate_http_requests_total") {
		t.Errorf("tenant b's view (%d):\n%s", code, body)
	}
	if code, body := get("/metrics", "X-API-Key", keys["a-auditor"]); code != 200 || strings.Contains(body, tenants["b"]) {
		t.Errorf("tenant a's auditor (%d):\n%s", code, body)
	}
	if code, body := get("/metrics", "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", code, body)
	}
	code, body = get("/metrics", "Authorization", "Bearer op-token")
	if code != 200 || !strings.Contains(body, tenants["a"]) || !strings.Contains(body, tenants["b"]) || !strings.Contains(body, "vargate_http_requests_total") {
		t.Errorf("operator's view (%d):\n%s", code, body)
	}
}
