package mcpserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/mcpserver"
)

// rpc posts one JSON-RPC request of method (2026-07-28 form, or
// 2025-11-25 when legacy) and returns status, headers and body.
func rpc(t *testing.T, url, token, method string, legacy bool, headers ...string) (int, http.Header, string) {
	t.Helper()
	version := "2026-07-28"
	meta := `,"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}`
	if legacy {
		version, meta = "2025-11-25", `,"params":{}`
	}
	body := `{"jsonrpc":"2.0","id":7,"method":"` + method + `"` + meta + `}`
	req, _ := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", version)
	if !legacy {
		req.Header.Set("Mcp-Method", method)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestUnservedMethods: unknown methods and those of undeclared
// capabilities get JSON-RPC -32601 with the request's ID, in both
// protocol eras; served methods still work.
func TestUnservedMethods(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, legacy := range []bool{false, true} {
		for _, m := range []string{"foo/bar", "prompts/list", "prompts/get", "resources/list", "resources/read", "resources/templates/list", "logging/setLevel", "completion/complete"} {
			code, h, body := rpc(t, g.url, g.acme.AgentKey, m, legacy)
			var resp struct {
				ID    int `json:"id"`
				Error struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &resp) != nil || resp.ID != 7 || resp.Error.Code != -32601 {
				t.Errorf("legacy=%v %s: %d %s %q, want a JSON-RPC -32601 for id 7", legacy, m, code, h.Get("Content-Type"), body)
			}
		}
		if code, _, body := rpc(t, g.url, g.acme.AgentKey, "tools/list", legacy); code != 200 || !strings.Contains(body, "vargate_web_search") {
			t.Errorf("legacy=%v tools/list: %d %q", legacy, code, body)
		}
	}
	if code, _, body := rpc(t, g.url, "", "prompts/list", true); code != 401 {
		t.Errorf("unauthenticated: %d %q, want 401 before any method is looked at", code, body)
	}
}

// TestAuthDiscovery: a 401 points to the RFC 9728 metadata, which names
// the endpoint as the resource and the gateway as its authorization
// server.
func TestAuthDiscovery(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, mount := range []string{mcpserver.Path, mcpserver.APIPath} {
		code, h, _ := rpc(t, g.ts.URL+mount, "", "tools/list", false)
		want := `resource_metadata="` + g.ts.URL + mcpserver.WellKnownPrefix + mount + `"`
		if code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), want) || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: %d WWW-Authenticate %q, want %s", mount, code, h.Get("WWW-Authenticate"), want)
		}
		_, h, _ = rpc(t, g.ts.URL+mount, "vgk_"+strings.Repeat("A", 43), "tools/list", false)
		if c := h.Get("WWW-Authenticate"); !strings.Contains(c, want) || !strings.Contains(c, `error="invalid_token"`) {
			t.Errorf("%s invalid token: WWW-Authenticate %q", mount, c)
		}
		resp, err := http.Get(g.ts.URL + mcpserver.WellKnownPrefix + mount)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			BearerMethods        []string `json:"bearer_methods_supported"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || doc.Resource != g.ts.URL+mount || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != g.ts.URL ||
			len(doc.BearerMethods) != 1 || doc.BearerMethods[0] != "header" {
			t.Errorf("%s metadata: %d %+v %v", mount, resp.StatusCode, doc, err)
		}
	}
}

// TestCORS: an allowed browser origin gets CORS headers (the preflight
// without credentials, the answer and the 401 alike); a foreign one 403.
func TestCORS(t *testing.T) {
	g := newGateway(t, gatewayOptions{configure: func(s *mcpserver.Server) { s.AllowedOrigins = []string{"https://app.example.com"} }})
	req, _ := http.NewRequest("OPTIONS", g.url, nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	for _, token := range []string{g.acme.AgentKey, ""} {
		code, h, _ := rpc(t, g.url, token, "tools/list", false, "Origin", "https://app.example.com")
		if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
			t.Errorf("token=%v: %d without CORS headers: %v", token != "", code, h)
		}
	}
	if code, h, _ := rpc(t, g.url, g.acme.AgentKey, "tools/list", false, "Origin", "https://evil.example"); code != 403 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin: %d %v", code, h)
	}
}
