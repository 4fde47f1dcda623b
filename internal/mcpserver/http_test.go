package mcpserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/tools"
)

// post sends one JSON-RPC request (2026-07-28 form) and returns the status,
// headers and body.
func post(t *testing.T, url, token string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, err := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/list")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAuthentication(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	session, sessionID := g.sessionToken(g.acme)
	tests := []struct {
		name      string
		token     string
		headers   map[string]string
		status    int
		challenge string
	}{
		{"no token", "", nil, 401, `Bearer realm="vargate-mcp"`},
		{"malformed token", "not-a-token", nil, 401, `error="invalid_token"`},
		{"unknown key", "vgk_" + strings.Repeat("A", 43), nil, 401, `error="invalid_token"`},
		{"basic auth instead of bearer", "", map[string]string{"Authorization": "Basic dTpw"}, 401, `Bearer realm="vargate-mcp"`},
		{"token in the query string is ignored", "", map[string]string{}, 401, ""},
		{"admin key", g.acme.AdminKey, nil, 403, `error="insufficient_scope"`},
		{"agent key", g.acme.AgentKey, nil, 200, ""},
		{"session token", session, nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := g.url
			if tt.name == "token in the query string is ignored" {
				url += "?access_token=" + g.acme.AgentKey
			}
			status, h, body := post(t, url, tt.token, tt.headers)
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %s", status, tt.status, body)
			}
			if tt.challenge != "" && !strings.Contains(h.Get("WWW-Authenticate"), tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want %q", h.Get("WWW-Authenticate"), tt.challenge)
			}
			if status == 200 && !strings.Contains(body, tools.WebSearch) {
				t.Errorf("body = %s", body)
			}
			if status != 200 && tt.token != "" && strings.Contains(body, tt.token) {
				t.Error("the token is echoed in the error")
			}
		})
	}

	t.Run("ended session", func(t *testing.T) {
		cs := g.connect(t, session, "")
		if _, err := cs.ListTools(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		g.sessions.end(sessionID)
		if _, err := cs.ListTools(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
			t.Errorf("after the session ended: %v, want Unauthorized", err)
		}
		if status, _, _ := post(t, g.url, session, nil); status != 401 {
			t.Errorf("status = %d, want 401", status)
		}
	})
	t.Run("go client with a bad key", func(t *testing.T) {
		_, err := tryConnect(t.Context(), g.url, "vgk_"+strings.Repeat("B", 43), "")
		if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
			t.Errorf("connect = %v, want Unauthorized", err)
		}
	})
}

func TestTransportBasics(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, path := range []string{mcpserver.Path, mcpserver.APIPath} {
		resp, err := http.Get(g.ts.URL + path + "/health")
		if err != nil {
			t.Fatal(err)
		}
		var h mcpserver.HealthResponse
		json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if resp.StatusCode != 200 || h.Status != "ok" || len(h.ProtocolVersions) == 0 {
			t.Errorf("%s/health: %d %+v", path, resp.StatusCode, h)
		}
	}
	for _, method := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(method, g.url, nil)
		req.Header.Set("Authorization", "Bearer "+g.acme.AgentKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: %d Allow=%q, want 405 POST", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	_, h, _ := post(t, g.url, g.acme.AgentKey, nil)
	if h.Get("X-Accel-Buffering") != "no" {
		t.Errorf("X-Accel-Buffering = %q", h.Get("X-Accel-Buffering"))
	}
}

func TestOrigin(t *testing.T) {
	g := newGateway(t, gatewayOptions{configure: func(s *mcpserver.Server) {
		s.AllowedOrigins = []string{"https://console.example.com"}
	}})
	tests := []struct {
		origin string
		status int
	}{
		{"", 200},
		{"https://console.example.com", 200},
		{"https://CONSOLE.example.com:443", 200},
		{"https://evil.example", 403},
		{"http://console.example.com", 403},
		{"null", 403},
		{g.ts.URL, 403}, // same origin as the server is not enough: DNS rebinding
	}
	for _, tt := range tests {
		h := map[string]string{}
		if tt.origin != "" {
			h["Origin"] = tt.origin
		}
		if status, _, body := post(t, g.url, g.acme.AgentKey, h); status != tt.status {
			t.Errorf("Origin %q: %d, want %d: %s", tt.origin, status, tt.status, body)
		}
	}
}

func TestIPAllowlist(t *testing.T) {
	mustPrefixes := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	tests := []struct {
		name      string
		allowlist []netip.Prefix
		trusted   []netip.Prefix
		xff       string
		status    int
	}{
		{"no allowlist", nil, nil, "", 200},
		{"peer allowed", mustPrefixes("127.0.0.1/32"), nil, "", 200},
		{"peer not allowed", mustPrefixes("203.0.113.10/32"), nil, "", 403},
		{"forged XFF from an untrusted peer is ignored", mustPrefixes("203.0.113.10/32"), nil, "203.0.113.10", 403},
		{"trusted proxy, allowed client", mustPrefixes("203.0.113.10/32"), mustPrefixes("127.0.0.0/8"), "203.0.113.10", 200},
		{"trusted proxy, client not allowed", mustPrefixes("203.0.113.10/32"), mustPrefixes("127.0.0.0/8"), "198.51.100.4", 403},
		{"trusted proxy, client spoofs the left of the chain", mustPrefixes("203.0.113.10/32"), mustPrefixes("127.0.0.0/8"), "203.0.113.10, 198.51.100.4", 403},
		{"trusted proxy, allowed CIDR", mustPrefixes("203.0.113.0/24"), mustPrefixes("127.0.0.0/8"), "198.51.100.4, 203.0.113.77", 200},
		{"trusted proxy, garbage entry", mustPrefixes("203.0.113.0/24"), mustPrefixes("127.0.0.0/8"), "not-an-ip", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, gatewayOptions{configure: func(s *mcpserver.Server) {
				s.IPAllowlist, s.TrustedProxies = tt.allowlist, tt.trusted
			}})
			h := map[string]string{}
			if tt.xff != "" {
				h["X-Forwarded-For"] = tt.xff
			}
			status, _, body := post(t, g.url, g.acme.AgentKey, h)
			if status != tt.status {
				t.Errorf("status = %d, want %d: %s", status, tt.status, body)
			}
			// The allowlist applies before authentication.
			if tt.status == 403 {
				if status, _, _ := post(t, g.url, "", h); status != 403 {
					t.Errorf("without a token: %d, want 403", status)
				}
			}
		})
	}
}

func TestAuthCache(t *testing.T) {
	now := time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC)
	g := newGateway(t, gatewayOptions{configure: func(s *mcpserver.Server) {
		s.AuthCacheTTL = 0 // the default
		s.Now = func() time.Time { return now }
	}})
	token, sessionID := g.sessionToken(g.acme)
	if status, _, body := post(t, g.url, token, nil); status != 200 {
		t.Fatalf("live session: %d %s", status, body)
	}
	g.sessions.end(sessionID)
	now = now.Add(mcpserver.DefaultAuthCacheTTL / 2)
	if status, _, _ := post(t, g.url, token, nil); status != 200 {
		t.Errorf("within the cache TTL: %d, want 200 (cached)", status)
	}
	now = now.Add(mcpserver.DefaultAuthCacheTTL)
	if status, _, _ := post(t, g.url, token, nil); status != 401 {
		t.Errorf("after the cache TTL: %d, want 401", status)
	}
	// Failures are not cached: a token that did not work is asked about
	// again, and works as soon as it is valid.
	later := auth.NewToken(auth.SessionTokenPrefix)
	if status, _, _ := post(t, g.url, later, nil); status != 401 {
		t.Fatalf("unknown token: %d", status)
	}
	g.sessions.put(later, vargate.Principal{TenantID: g.acme.ID, Role: vargate.RoleAgent, AgentID: g.acme.AgentID, SessionID: "vs-later"})
	if status, _, _ := post(t, g.url, later, nil); status != 200 {
		t.Errorf("token once valid: %d, want 200", status)
	}
}
