package sim_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// The default scenario against a real MCP server with the MCP toolset's
// default policy (always_ask): each MCP call parks the session until a
// user.tool_confirmation settles it; a deny's message is the tool result.
func TestToolConfirmationRoundTrip(t *testing.T) {
	f := newFixture(t, sim.Options{})
	srv := newMCPServer(t)
	ag := f.newAgent(t, srv.URL, false)
	sess := f.newSession(t, ag.ID, "")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("research the AI Act and email the team"))

	// 1: the search asks.
	evs := st.waitIdle(t, 1)
	search := ofType(evs, "agent.mcp_tool_use")[0].AsAgentMCPToolUse()
	if search.Name != "vargate_web_search" || search.MCPServerName != "vargate-governance" || search.EvaluatedPermission != "ask" || search.Evaluation.Type != "always_ask" {
		t.Errorf("first MCP tool use = %s on %s, %s/%s; want vargate_web_search on vargate, ask/always_ask",
			search.Name, search.MCPServerName, search.EvaluatedPermission, search.Evaluation.Type)
	}
	idle := evs[len(evs)-1].AsSessionStatusIdle()
	if idle.StopReason.Type != "requires_action" || !slices.Equal(idle.StopReason.EventIDs, []string{search.ID}) {
		t.Fatalf("idle = %s %v, want requires_action [%s]", idle.StopReason.Type, idle.StopReason.EventIDs, search.ID)
	}
	if info, _ := f.sim.Session(sess.ID); info.Status != "idle" || !slices.Equal(info.Pending, []string{search.ID}) {
		t.Errorf("session while asking: %s pending %v", info.Status, info.Pending)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("MCP server got %d calls before the confirmation, want 0", n)
	}

	// A confirmation for an ID that is not pending is refused.
	_, err := f.client.Beta.Sessions.Events.Send(t.Context(), sess.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{confirmation("sevt_unknown", true, "")},
	})
	if ae := apiError(t, err); ae.StatusCode != http.StatusBadRequest || ae.Type() != "invalid_request_error" {
		t.Errorf("confirming an unknown tool use: %d %s, want 400 invalid_request_error", ae.StatusCode, ae.Type())
	}

	// 2: allow the search; the email asks next.
	f.send(t, sess.ID, confirmation(search.ID, true, ""))
	evs = st.waitIdle(t, 2)
	res := ofType(evs, "agent.mcp_tool_result")[0].AsAgentMCPToolResult()
	if res.MCPToolUseID != search.ID || res.IsError || res.Content[0].Text != "result of vargate_web_search" {
		t.Errorf("search result = %+v, want the MCP server's answer", res)
	}
	email := ofType(evs, "agent.mcp_tool_use")[1].AsAgentMCPToolUse()
	if email.Name != "vargate_send_email" || email.EvaluatedPermission != "ask" {
		t.Errorf("second MCP tool use = %s %s, want vargate_send_email ask", email.Name, email.EvaluatedPermission)
	}
	if got := ofType(evs, "agent.tool_use")[0].AsAgentToolUse(); got.Name != "bash" || got.EvaluatedPermission != "allow" {
		t.Errorf("bash step = %s %s, want bash allowed by the toolset default", got.Name, got.EvaluatedPermission)
	}

	// 3: deny the email with a message; the agent sees it and ends the turn.
	f.send(t, sess.ID, confirmation(email.ID, false, "External recipients need a manager's approval."))
	evs = st.waitIdle(t, 3)
	denied := ofType(evs, "agent.mcp_tool_result")[1].AsAgentMCPToolResult()
	if denied.MCPToolUseID != email.ID || !denied.IsError || denied.Content[0].Text != "External recipients need a manager's approval." {
		t.Errorf("denied result = %+v, want is_error with the deny message", denied)
	}
	if got := evs[len(evs)-1].AsSessionStatusIdle().StopReason.Type; got != "end_turn" {
		t.Errorf("third idle stop_reason = %s, want end_turn", got)
	}
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].Tool != "vargate_web_search" || calls[0].Args["query"] == nil {
		t.Errorf("MCP calls = %+v, want only the allowed search, with its input", calls)
	}

	// 4: a follow-up message gets a reply that quotes it.
	f.send(t, sess.ID, userMessage("the manager approved it"))
	evs = st.waitIdle(t, 4)
	msgs := ofType(evs, "agent.message")
	if text := msgs[len(msgs)-1].AsAgentMessage().Content[0].Text; !strings.Contains(text, "the manager approved it") {
		t.Errorf("follow-up reply = %q, want it to quote the message", text)
	}
}

// Tool calls made at once are confirmed together; settling fewer than all
// re-emits idle with the rest.
func TestParallelConfirmations(t *testing.T) {
	f := newFixture(t, sim.Options{})
	err := f.sim.RegisterScenario(sim.Scenario{Name: "two", Steps: []sim.Step{
		{Type: sim.StepParallel, Steps: []sim.Step{
			{Type: sim.StepMCPTool, Name: "lookup", Input: map[string]any{"id": 1}},
			{Type: sim.StepMCPTool, Name: "lookup", Input: map[string]any{"id": 2}},
			{Type: sim.StepTool, Name: "read", Input: map[string]any{"file_path": "a.txt"}, Result: "a"},
		}},
		{Type: sim.StepEndTurn},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newMCPServer(t)
	ag := f.newAgent(t, srv.URL, false)
	sess := f.newSession(t, ag.ID, "two")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("look both up"))

	evs := st.waitIdle(t, 1)
	uses := ofType(evs, "agent.mcp_tool_use")
	ids := []string{uses[0].ID, uses[1].ID}
	if got := evs[len(evs)-1].AsSessionStatusIdle().StopReason.EventIDs; !slices.Equal(got, ids) {
		t.Fatalf("requires_action event_ids = %v, want %v", got, ids)
	}
	f.send(t, sess.ID, confirmation(ids[1], false, ""))
	evs = st.waitIdle(t, 2)
	if got := evs[len(evs)-1].AsSessionStatusIdle().StopReason; got.Type != "requires_action" || !slices.Equal(got.EventIDs, ids[:1]) {
		t.Fatalf("after one confirmation: %s %v, want requires_action [%s]", got.Type, got.EventIDs, ids[0])
	}
	f.send(t, sess.ID, confirmation(ids[0], true, ""))
	evs = st.waitIdle(t, 3)
	results := ofType(evs, "agent.mcp_tool_result")
	if len(results) != 2 {
		t.Fatalf("results: %d, want 2", len(results))
	}
	first, second := results[0].AsAgentMCPToolResult(), results[1].AsAgentMCPToolResult()
	if first.IsError || !second.IsError || second.Content[0].Text != "The user denied this tool call." {
		t.Errorf("results = %+v, %+v; want the first allowed and the second denied", first, second)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("MCP server calls = %d, want 1", n)
	}
	if n := len(ofType(evs, "agent.tool_result")); n != 1 {
		t.Errorf("built-in results = %d, want 1", n)
	}
}

// Per-tool configs override the toolset default; the simulated auto policy
// follows the step's auto_permission; a disabled tool is never used.
func TestPermissionPolicies(t *testing.T) {
	f := newFixture(t, sim.Options{Scenarios: []sim.Scenario{{Name: "policies", Steps: []sim.Step{
		{Type: sim.StepTool, Name: "read", Input: map[string]any{"file_path": "a"}, Result: "A"},
		{Type: sim.StepTool, Name: "grep", Input: map[string]any{"pattern": "x"}, AutoPermission: "deny"},
		{Type: sim.StepTool, Name: "write", Input: map[string]any{"file_path": "b", "content": "B"}},
		{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "make"}, Result: "built"},
		{Type: sim.StepEndTurn},
	}}}})
	a, err := f.client.Beta.Agents.New(t.Context(), anthropic.BetaAgentNewParams{
		Name: "policies", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		Tools: []anthropic.BetaAgentNewParamsToolUnion{{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{
			DefaultConfig: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParams{
				PermissionPolicy: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParamsPermissionPolicyUnion{OfAuto: &anthropic.BetaManagedAgentsAutoPolicyParam{}},
			},
			Configs: []anthropic.BetaManagedAgentsAgentToolConfigParamsUnion{
				{OfBash: &anthropic.BetaManagedAgentsBashToolConfigParams{PermissionPolicy: anthropic.BetaManagedAgentsBashToolConfigParamsPermissionPolicyUnion{
					OfAlwaysAsk: &anthropic.BetaManagedAgentsAlwaysAskPolicyParam{},
				}}},
				{OfWrite: &anthropic.BetaManagedAgentsWriteToolConfigParams{Enabled: anthropic.Bool(false)}},
			},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := a.Tools[0].Configs.OfBetaManagedAgentsAgentToolConfigArray; len(c) != 2 || c[0].Name != "bash" || c[0].PermissionPolicy.Type != "always_ask" || c[1].Enabled {
		t.Errorf("resolved configs = %s", a.Tools[0].RawJSON())
	}
	sess := f.newSession(t, a.ID, "policies")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("go"))
	evs := st.waitIdle(t, 1)

	type verdict struct{ name, permission, evaluation, verdict string }
	var got []verdict
	for _, e := range ofType(evs, "agent.tool_use") {
		u := e.AsAgentToolUse()
		got = append(got, verdict{u.Name, string(u.EvaluatedPermission), u.Evaluation.Type, u.Evaluation.EvaluatedPermission.Type})
	}
	want := []verdict{{"read", "allow", "auto", "allow"}, {"grep", "deny", "auto", "deny"}, {"bash", "ask", "always_ask", ""}}
	if !slices.Equal(got, want) {
		t.Fatalf("tool uses:\n got %v\nwant %v", got, want)
	}
	bash := ofType(evs, "agent.tool_use")[2]
	f.send(t, sess.ID, confirmation(bash.ID, true, ""))
	evs = st.waitIdle(t, 2)
	var results []string
	for _, e := range ofType(evs, "agent.tool_result") {
		r := e.AsAgentToolResult()
		results = append(results, fmt.Sprintf("%v:%s", r.IsError, r.Content[0].Text))
	}
	if want := []string{"false:A", "true:" + "This tool call was denied by the permission policy.", "false:built"}; !slices.Equal(results, want) {
		t.Errorf("results:\n got %v\nwant %v", results, want)
	}
}
