package sim_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// Every request needs an API key, anthropic-version and the beta header,
// and errors use the real API's body.
func TestRequiredHeaders(t *testing.T) {
	s, err := sim.New(sim.Options{APIKey: "right"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := http.Header{
		"X-Api-Key":         {"right"},
		"Anthropic-Version": {"2023-06-01"},
		"Anthropic-Beta":    {sim.BetaHeader},
	}
	tests := []struct {
		name      string
		path      string
		edit      func(http.Header)
		status    int
		errorType string
	}{
		{"x-api-key", "/v1/agents", func(http.Header) {}, 200, ""},
		{"bearer", "/v1/agents", func(h http.Header) { h.Del("X-Api-Key"); h.Set("Authorization", "Bearer right") }, 200, ""},
		{"beta among others", "/v1/agents", func(h http.Header) { h.Set("Anthropic-Beta", "files-api-2025-04-14, "+sim.BetaHeader) }, 200, ""},
		{"beta=true query", "/v1/agents?beta=true", func(http.Header) {}, 200, ""},
		{"no key", "/v1/agents", func(h http.Header) { h.Del("X-Api-Key") }, 401, "authentication_error"},
		{"wrong key", "/v1/agents", func(h http.Header) { h.Set("X-Api-Key", "wrong") }, 401, "authentication_error"},
		{"wrong bearer", "/v1/agents", func(h http.Header) { h.Del("X-Api-Key"); h.Set("Authorization", "Bearer wrong") }, 401, "authentication_error"},
		{"no version", "/v1/agents", func(h http.Header) { h.Del("Anthropic-Version") }, 400, "invalid_request_error"},
		{"no beta", "/v1/agents", func(h http.Header) { h.Del("Anthropic-Beta") }, 404, "not_found_error"},
		{"other beta", "/v1/agents", func(h http.Header) { h.Set("Anthropic-Beta", "agent-memory-2026-07-22") }, 404, "not_found_error"},
		{"unknown path", "/v1/nothing", func(http.Header) {}, 404, "not_found_error"},
		{"unknown agent", "/v1/agents/agent_011CNope", func(http.Header) {}, 404, "not_found_error"},
		{"bad limit", "/v1/agents?limit=1000", func(http.Header) {}, 400, "invalid_request_error"},
		{"bad cursor", "/v1/agents?page=zzz", func(http.Header) {}, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.path, nil)
			r.Header = base.Clone()
			tt.edit(r.Header)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			reqID := w.Header().Get("request-id")
			if !strings.HasPrefix(reqID, "req_") {
				t.Errorf("request-id = %q, want req_…", reqID)
			}
			if tt.errorType == "" {
				return
			}
			var body struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body %s: %v", w.Body, err)
			}
			if body.Type != "error" || body.Error.Type != tt.errorType || body.Error.Message == "" || body.RequestID != reqID {
				t.Errorf("error body = %+v, want type error, error.type %s, a message, request_id %s", body, tt.errorType, reqID)
			}
		})
	}
}

// Error bodies decode into the SDK's error type.
func TestErrorsDecodeIntoSDKError(t *testing.T) {
	f := newFixture(t, sim.Options{APIKey: "right"})
	wrong := newClient(f.url, "wrong")
	_, err := wrong.Beta.Agents.List(t.Context(), anthropic.BetaAgentListParams{})
	ae := apiError(t, err)
	if ae.StatusCode != 401 || ae.Type() != "authentication_error" || ae.Message == "" || !strings.HasPrefix(ae.RequestID, "req_") {
		t.Errorf("wrong key: %d %s %q request %q", ae.StatusCode, ae.Type(), ae.Message, ae.RequestID)
	}

	f.client = newClient(f.url, "right")
	_, err = f.client.Beta.Sessions.Get(t.Context(), "sesn_011CMissing", anthropic.BetaSessionGetParams{})
	if ae := apiError(t, err); ae.StatusCode != 404 || ae.Type() != "not_found_error" {
		t.Errorf("unknown session: %d %s", ae.StatusCode, ae.Type())
	}

	st := f.client.Beta.Sessions.Events.StreamEvents(t.Context(), "sesn_011CMissing", anthropic.BetaSessionEventStreamParams{})
	defer st.Close()
	if st.Next() {
		t.Fatal("stream of an unknown session delivered an event")
	}
	if ae := apiError(t, st.Err()); ae.StatusCode != 404 || ae.Type() != "not_found_error" {
		t.Errorf("stream of an unknown session: %d %s", ae.StatusCode, ae.Type())
	}

	_, err = f.client.Beta.Agents.New(t.Context(), anthropic.BetaAgentNewParams{
		Name: "x", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "gw", URL: "https://gw.example/mcp"}},
	})
	if ae := apiError(t, err); ae.StatusCode != 400 || ae.Type() != "invalid_request_error" || !strings.Contains(ae.Message, "not referenced") {
		t.Errorf("unreferenced MCP server: %d %s %q", ae.StatusCode, ae.Type(), ae.Message)
	}
}

// The stream is text/event-stream with event: lines and ping heartbeats.
func TestStreamWireFormat(t *testing.T) {
	f := newFixture(t, sim.Options{HeartbeatInterval: 5 * time.Millisecond})
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "follow_up")
	req, err := http.NewRequestWithContext(t.Context(), "GET", f.url+"/v1/sessions/"+sess.ID+"/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{"X-Api-Key": {testKey}, "Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {sim.BetaHeader}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	f.send(t, sess.ID, userMessage("hi"))
	sc := bufio.NewScanner(resp.Body)
	var sawPing, sawMessage bool
	var last string
	for sc.Scan() && !(sawPing && sawMessage) {
		line := sc.Text()
		switch {
		case line == "event: ping":
			sawPing = true
		case line == "event: agent.message":
			sawMessage = true
		case strings.HasPrefix(line, "data: ") && !strings.HasPrefix(last, "event: "):
			t.Fatalf("data line without an event: line before it: %q", last)
		}
		last = line
	}
	if !sawPing || !sawMessage {
		t.Errorf("stream ended without a ping (%v) and an agent.message (%v)", sawPing, sawMessage)
	}
}
