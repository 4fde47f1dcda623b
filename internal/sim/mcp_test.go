package sim_test

import (
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// The scripted agent's MCP calls reach a real MCP server with the token of
// the vault credential whose mcp_server_url equals the server URL exactly,
// and without a token when the URLs differ.
func TestMCPCallUsesVaultToken(t *testing.T) {
	tests := []struct {
		name     string
		credURL  func(serverURL string) string
		wantAuth string
	}{
		{"same URL", func(u string) string { return u }, "Bearer vg_sess_secret"},
		{"trailing slash", func(u string) string { return u + "/" }, ""},
		{"other path", func(u string) string { return u + "/other" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sim.Options{})
			srv := newMCPServer(t)
			if err := f.sim.RegisterScenario(sim.Scenario{Name: "one-call", Steps: []sim.Step{
				{Type: sim.StepMCPTool, Name: "lookup", Input: map[string]any{"q": "x"}},
			}}); err != nil {
				t.Fatal(err)
			}
			ag := f.newAgent(t, srv.URL, true)
			v := f.newVault(t, tt.credURL(srv.URL), "vg_sess_secret")
			sess := f.newSession(t, ag.ID, "one-call", v.ID)
			st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
			f.send(t, sess.ID, userMessage("go"))
			evs := st.waitIdle(t, 1)

			use := ofType(evs, "agent.mcp_tool_use")[0].AsAgentMCPToolUse()
			if use.EvaluatedPermission != "allow" {
				t.Errorf("evaluated_permission = %s, want allow (always_allow toolset)", use.EvaluatedPermission)
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("MCP server got %d calls, want 1", len(calls))
			}
			if calls[0].Authorization != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", calls[0].Authorization, tt.wantAuth)
			}
			res := ofType(evs, "agent.mcp_tool_result")[0].AsAgentMCPToolResult()
			if res.IsError || res.Content[0].Text != "result of lookup" {
				t.Errorf("result = %+v, want the server's answer", res)
			}
		})
	}
}

// An MCP server that cannot be reached gives a session.error and an error
// result, and the turn goes on.
func TestMCPConnectionFailure(t *testing.T) {
	f := newFixture(t, sim.Options{})
	if err := f.sim.RegisterScenario(sim.Scenario{Name: "unreachable", Steps: []sim.Step{
		{Type: sim.StepMCPTool, Name: "lookup"},
		{Type: sim.StepMessage, Text: "carrying on"},
	}}); err != nil {
		t.Fatal(err)
	}
	ag := f.newAgent(t, "http://127.0.0.1:1/mcp", true)
	sess := f.newSession(t, ag.ID, "unreachable")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("go"))
	evs := st.waitIdle(t, 1)
	errs := ofType(evs, "session.error")
	if len(errs) != 1 {
		t.Fatalf("session.error events: %d, want 1; got %v", len(errs), types(evs))
	}
	e := errs[0].AsSessionError().Error
	if e.Type != "mcp_connection_failed_error" || e.MCPServerName != "vargate-governance" {
		t.Errorf("error = %s on %q, want mcp_connection_failed_error on vargate", e.Type, e.MCPServerName)
	}
	if res := ofType(evs, "agent.mcp_tool_result")[0].AsAgentMCPToolResult(); !res.IsError {
		t.Errorf("result is_error = false, want true")
	}
	if n := len(ofType(evs, "agent.message")); n != 1 {
		t.Errorf("agent messages after the failure: %d, want 1", n)
	}
}

// A server that refuses the vault's token gives mcp_authentication_failed_error.
func TestMCPAuthenticationFailure(t *testing.T) {
	f := newFixture(t, sim.Options{Scenarios: []sim.Scenario{{Name: "one-call", Steps: []sim.Step{
		{Type: sim.StepMCPTool, Name: "lookup"},
	}}}})
	srv := newMCPServerWithToken(t, "right-token")
	ag := f.newAgent(t, srv.URL, true)
	v := f.newVault(t, srv.URL, "stale-token")
	sess := f.newSession(t, ag.ID, "one-call", v.ID)
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("go"))
	evs := st.waitIdle(t, 1)
	errs := ofType(evs, "session.error")
	if len(errs) != 1 {
		t.Fatalf("session.error events: %d; got %v", len(errs), types(evs))
	}
	if e := errs[0].AsSessionError().Error; e.Type != "mcp_authentication_failed_error" || e.MCPServerName != "vargate-governance" {
		t.Errorf("error = %s on %q, want mcp_authentication_failed_error on vargate", e.Type, e.MCPServerName)
	}
	if len(srv.Calls()) != 0 {
		t.Error("the tool ran despite the refused token")
	}
}
