package mcpserver_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

// TestCanaryNeverLeaves: a tenant tool whose upstream echoes its request
// back carries a canary credential, in a header and (for a dead upstream)
// in the query string. The canary reaches the upstream and nothing else:
// not the agent, not the audit trail, not the gateway's log.
func TestCanaryNeverLeaves(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	const canary = "canary-e2e-4b1d9f07-secret"
	if _, err := g.vault.Register(t.Context(), g.acme.ID, vault.Registration{ToolID: vault.HostToolID("127.0.0.1"), Name: "canary", Type: vault.TypeAPIKey, Value: []byte(canary)}); err != nil {
		t.Fatal(err)
	}
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	for name, def := range map[string]tools.TenantTool{
		"crm_echo": {Request: tools.RequestTemplate{Method: "GET", URL: g.api.URL + "/echo/{id}"},
			Credential: &tools.CredentialRef{ToolID: vault.HostToolID("127.0.0.1"), Name: "canary", In: "header", Param: "X-Api-Key"}},
		"crm_dead": {Request: tools.RequestTemplate{Method: "GET", URL: deadURL + "/echo/{id}"},
			Credential: &tools.CredentialRef{ToolID: vault.HostToolID("127.0.0.1"), Name: "canary", In: "query", Param: "key"}},
	} {
		def.Name, def.Description = name, "echo"
		def.InputSchema = json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}}}`)
		if _, err := g.catalog.Create(t.Context(), g.acme.ID, "key-test", def); err != nil {
			t.Fatal(err)
		}
	}
	cfg := g.configs.m[g.acme.AgentID]
	cfg.AllowedTools = append(cfg.AllowedTools, "crm_echo", "crm_dead")
	g.configs.m[g.acme.AgentID] = cfg

	cs := g.connect(t, g.acme.AgentKey, "")
	var seen strings.Builder
	for _, tool := range []string{"crm_echo", "crm_dead"} {
		res := call(t, cs, tool, map[string]any{"id": "1"})
		b, _ := json.Marshal(res)
		seen.Write(b)
	}
	if key := <-g.apiKeys; key != canary {
		t.Fatalf("the upstream received %q, want the canary", key)
	}
	var trail strings.Builder
	rows, err := g.db.QueryContext(t.Context(), `SELECT * FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				trail.Write(b)
			} else if s, ok := v.(string); ok {
				trail.WriteString(s)
			}
		}
	}
	if !strings.Contains(g.logs.String(), "governed tool failed") {
		t.Errorf("the dead upstream's failure was not logged:\n%s", g.logs.String())
	}
	for where, text := range map[string]string{"the agent": seen.String(), "the audit trail": trail.String(), "the log": g.logs.String()} {
		for _, form := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))} {
			if strings.Contains(text, form) {
				t.Errorf("the canary reached %s:\n%s", where, text)
			}
		}
	}
}
