package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestServePolicyActivation uploads and activates a tenant policy through
// the API of `vargate serve` and checks that the governed MCP call obeys
// it at once, and again after the gateway restarts on the same data.
func TestServePolicyActivation(t *testing.T) {
	search := fakeSearch(t)
	env := map[string]string{"VARGATE_DATA_DIR": filepath.Join(t.TempDir(), "data"), "VARGATE_WEB_SEARCH_URL": search.URL}
	g := startServe(t, env)
	admin := g.Key

	code, agent := g.do(t, "POST", "/api/managed/agents", admin, `{"name":"Researcher","allowed_tools":["vargate_web_search"]}`)
	if code != 201 {
		t.Fatalf("create agent = %d %v", code, agent)
	}
	code, key := g.do(t, "POST", "/api/keys", admin, `{"role":"agent","agent_id":"`+agent["id"].(string)+`"}`)
	if code != 201 {
		t.Fatalf("create agent key = %d %v", code, key)
	}
	agentKey, _ := key["api_key"].(string)
	if code, out := g.do(t, "POST", "/api/credentials/register", admin, `{"tool_id":"vargate_web_search","credential_type":"api_key","value":"brave-key"}`); code != 201 {
		t.Fatalf("register credential = %d %v", code, out)
	}

	// search calls vargate_web_search and returns the result as JSON.
	search1 := func(g *gateway) (bool, string) {
		t.Helper()
		cs, err := mcpConnect(t.Context(), g.URL+"/api/mcp/server", agentKey)
		if err != nil {
			t.Fatalf("connect: %v\n%s", err, g.Stderr)
		}
		defer cs.Close()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "vargate_web_search", Arguments: json.RawMessage(`{"query":"competitor pricing"}`)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res)
		return res.IsError, string(b)
	}
	if isErr, out := search1(g); isErr {
		t.Fatalf("before any tenant policy: %s, want a result", out)
	}

	rego := "package vargate.tenant\n\n" +
		`deny contains "no_competitor_research: searches about competitors are not allowed" if {` + "\n" +
		"\tinput.call.tool == \"vargate_web_search\"\n" +
		"\tcontains(input.call.arguments.query, \"competitor\")\n}\n"
	body, _ := json.Marshal(map[string]any{"modules": map[string]string{"research.rego": rego}, "activate": true})
	code, up := g.do(t, "POST", "/api/policies", admin, string(body))
	if code != 201 {
		t.Fatalf("upload = %d %v", code, up)
	}
	if isErr, out := search1(g); !isErr || !strings.Contains(out, "no_competitor_research") {
		t.Errorf("after activation: %s, want a denial by the tenant policy", out)
	}

	g.Stop(t)
	g = startServe(t, env)
	if isErr, out := search1(g); !isErr || !strings.Contains(out, "no_competitor_research") {
		t.Errorf("after restart: %s, want the tenant policy still active", out)
	}
	if code, active := g.do(t, "GET", "/api/policies/active", admin, ""); code != 200 || active["label"] != "v1" {
		t.Errorf("GET /policies/active after restart = %d %v", code, active)
	}
}
