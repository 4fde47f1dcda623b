package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// newRecordedFixture is newFixture with every answer recorded for the
// conformance checker.
func newRecordedFixture(t *testing.T, opts sim.Options) (*fixture, *recorder) {
	t.Helper()
	opts.StepDelay, opts.TimeScale = time.Millisecond, 0.01
	s, err := sim.New(opts)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	rec := newRecorder(s)
	ts := httptest.NewServer(rec)
	t.Cleanup(func() {
		_ = s.Close()
		ts.Close()
	})
	return &fixture{sim: s, url: ts.URL, client: newClient(ts.URL, testKey)}, rec
}

// conformanceScenario plays every kind of step, so that every event type
// the simulator emits appears.
var conformanceScenario = sim.Scenario{Name: "conformance", Steps: []sim.Step{
	{Type: sim.StepThinking},
	{Type: sim.StepMessage, Text: "On it: {{user_message}}"},
	{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "ls"}, Result: "go.mod"},
	{Type: sim.StepMCPTool, Name: "lookup", Input: map[string]any{"q": "x"}},
	{Type: sim.StepParallel, Steps: []sim.Step{
		{Type: sim.StepMCPTool, Name: "lookup", Input: map[string]any{"q": "a"}},
		{Type: sim.StepMCPTool, Name: "lookup", Input: map[string]any{"q": "b"}},
	}},
	{Type: sim.StepCustomTool, Name: "get_weather", Input: map[string]any{"city": "Paris"}},
	{Type: sim.StepSubagent, Agent: "researcher", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "Researching."},
		{Type: sim.StepTool, Name: "web_fetch", Input: map[string]any{"url": "https://example.com"}, Result: "<html>"},
		{Type: sim.StepReschedule},
		{Type: sim.StepCompact},
	}},
	{Type: sim.StepReschedule},
	{Type: sim.StepError, Error: &sim.SessionError{Type: "model_overloaded_error", RetryStatus: sim.RetryRetrying}},
	{Type: sim.StepMessage, Text: "Done."},
	{Type: sim.StepEndTurn},
	{Type: sim.StepMessage, Text: "Second turn."},
	{Type: sim.StepEndTurn},
}}

// mustEmit lists the event types the conformance scenario must produce
// (on the session stream, a thread stream, or in a history). Left out:
// user.tool_result (self-hosted environments only), the workflow_run.*
// events (workflows are not simulated) and session.deleted (checked by
// TestSessionUpdateArchiveDelete: the stream ends with it).
var mustEmit = []string{
	"user.message", "user.interrupt", "user.tool_confirmation", "user.custom_tool_result", "user.define_outcome",
	"system.message",
	"agent.message", "agent.thinking", "agent.tool_use", "agent.tool_result", "agent.mcp_tool_use", "agent.mcp_tool_result",
	"agent.custom_tool_use", "agent.thread_message_sent", "agent.thread_message_received", "agent.thread_context_compacted",
	"session.status_running", "session.status_idle", "session.status_rescheduled", "session.status_terminated",
	"session.error", "session.updated", "session.usage",
	"session.thread_created", "session.thread_status_running", "session.thread_status_idle",
	"session.thread_status_rescheduled", "session.thread_status_terminated",
	"span.model_request_start", "span.model_request_end",
	"span.outcome_evaluation_start", "span.outcome_evaluation_ongoing", "span.outcome_evaluation_end",
	"event_start", "event_delta",
}

// TestConformance drives every route of the simulator with the SDK and
// checks every answer, event and list against the SDK's response types:
// no required field missing, no field the SDK does not know, every union
// a known variant.
func TestConformance(t *testing.T) {
	f, rec := newRecordedFixture(t, sim.Options{Scenarios: []sim.Scenario{conformanceScenario}})
	ctx := t.Context()
	mcp := newMCPServer(t)

	// Agents, with every optional part of the configuration.
	ag, err := f.client.Beta.Agents.New(ctx, richAgentParams(mcp.URL))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	coord, err := f.client.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "coordinator",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-6"},
		Multiagent: anthropic.BetaManagedAgentsMultiagentParamsUnion{OfCoordinator: &anthropic.BetaManagedAgentsMultiagentCoordinatorParams{
			Agents: []anthropic.BetaManagedAgentsMultiagentRosterEntryParamsUnion{{OfString: anthropic.String(ag.ID)}},
		}},
	})
	if err != nil {
		t.Fatalf("create coordinator: %v", err)
	}
	multi, err := f.client.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "orchestrator",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-6"},
		Multiagent: anthropic.BetaManagedAgentsMultiagentParamsUnion{OfMultiagent20261001: &anthropic.BetaManagedAgentsMultiagent20261001Params{
			Subagents: anthropic.BetaManagedAgentsMultiagentSubagentsParamsUnion{OfEnabled: &anthropic.BetaManagedAgentsMultiagentSubagentsEnabledParams{
				PredefinedAgents: []anthropic.BetaManagedAgentsMultiagentPredefinedAgentParamsUnion{{OfString: anthropic.String(ag.ID)}},
			}},
		}},
	})
	if err != nil {
		t.Fatalf("create multiagent_20261001 agent: %v", err)
	}
	if m := multi.Multiagent.AsMultiagent20261001(); m.Subagents.Type != "enabled" || len(m.Subagents.PredefinedAgents) != 1 ||
		m.Subagents.PredefinedAgents[0].ID != ag.ID || m.Workflows.Type != "enabled" || m.Advisor.Type == "" {
		t.Errorf("multiagent_20261001 answered as %s", multi.Multiagent.RawJSON())
	}
	if e := multi.Model.Effort.Type; e == "" {
		t.Errorf("model.effort answered as %s, want {type}", multi.Model.JSON.Effort.Raw())
	}
	if _, err := f.client.Beta.Agents.Update(ctx, ag.ID, anthropic.BetaAgentUpdateParams{
		Version: anthropic.Int(ag.Version), Description: anthropic.String("v2"),
	}); err != nil {
		t.Fatalf("update agent: %v", err)
	}
	if _, err := f.client.Beta.Agents.Get(ctx, ag.ID, anthropic.BetaAgentGetParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Agents.Versions.List(ctx, ag.ID, anthropic.BetaAgentVersionListParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Agents.Archive(ctx, coord.ID, anthropic.BetaAgentArchiveParams{}); err != nil {
		t.Fatal(err)
	}

	// Environments.
	env := f.newEnvironment(t, "conformance")
	if _, err := f.client.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{Description: anthropic.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Environments.List(ctx, anthropic.BetaEnvironmentListParams{}); err != nil {
		t.Fatal(err)
	}
	env2 := f.newEnvironment(t, "conformance-2")
	if _, err := f.client.Beta.Environments.Archive(ctx, env2.ID, anthropic.BetaEnvironmentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Environments.Delete(ctx, env2.ID, anthropic.BetaEnvironmentDeleteParams{}); err != nil {
		t.Fatal(err)
	}

	// Vaults and credentials.
	vault := f.newVault(t, mcp.URL, "tok")
	if _, err := f.client.Beta.Vaults.Update(ctx, vault.ID, anthropic.BetaVaultUpdateParams{DisplayName: anthropic.String("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.Get(ctx, vault.ID, anthropic.BetaVaultGetParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{}); err != nil {
		t.Fatal(err)
	}
	creds, err := f.client.Beta.Vaults.Credentials.List(ctx, vault.ID, anthropic.BetaVaultCredentialListParams{})
	if err != nil || len(creds.Data) != 1 {
		t.Fatalf("list credentials: %v", err)
	}
	credID := creds.Data[0].ID
	if _, err := f.client.Beta.Vaults.Credentials.Get(ctx, credID, anthropic.BetaVaultCredentialGetParams{VaultID: vault.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.Credentials.Update(ctx, credID, anthropic.BetaVaultCredentialUpdateParams{
		VaultID: vault.ID, DisplayName: anthropic.String("c"),
	}); err != nil {
		t.Fatal(err)
	}
	v2 := f.newVault(t, "https://other.example/mcp", "tok2")
	c2, err := f.client.Beta.Vaults.Credentials.List(ctx, v2.ID, anthropic.BetaVaultCredentialListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.Credentials.Archive(ctx, c2.Data[0].ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v2.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.Credentials.Delete(ctx, c2.Data[0].ID, anthropic.BetaVaultCredentialDeleteParams{VaultID: v2.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.Archive(ctx, v2.ID, anthropic.BetaVaultArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Vaults.Delete(ctx, v2.ID, anthropic.BetaVaultDeleteParams{}); err != nil {
		t.Fatal(err)
	}

	// A session that plays the conformance scenario, with an outcome.
	sess, err := f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)},
		EnvironmentID: env.ID,
		VaultIDs:      []string{vault.ID},
		Title:         anthropic.String("conformance"),
		Metadata:      map[string]string{sim.MetadataScenarioKey: "conformance"},
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
			URL: "https://github.com/vargate/vargate", AuthorizationToken: "ghp_secret",
		}}},
		InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
			Description: "a report",
			Rubric:      anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfText: &anthropic.BetaManagedAgentsTextRubricParams{Content: "complete"}},
		}}},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	// A second stream asks for the previews (event_start, event_delta).
	f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{EventDeltas: []anthropic.BetaManagedAgentsDeltaType{"agent.message", "agent.thinking"}})
	f.send(t, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfSystemMessage: &anthropic.BetaManagedAgentsSystemMessageEventParams{
		Content: []anthropic.BetaManagedAgentsSystemContentBlockParam{{Text: "context"}},
	}}, userMessage("go"))

	// One MCP call asks; then two at once, confirmed in one request.
	evs := st.waitIdle(t, 1)
	idle := ofType(evs, "session.status_idle")[0].AsSessionStatusIdle()
	f.send(t, sess.ID, confirmation(idle.StopReason.EventIDs[0], true, ""))
	evs = st.waitIdle(t, 2)
	idle = ofType(evs, "session.status_idle")[1].AsSessionStatusIdle()
	if len(idle.StopReason.EventIDs) != 2 {
		t.Fatalf("parallel asks: stop_reason = %s", idle.StopReason.RawJSON())
	}
	f.send(t, sess.ID, confirmation(idle.StopReason.EventIDs[0], true, ""), confirmation(idle.StopReason.EventIDs[1], false, "no"))
	confirmed := idle.StopReason.EventIDs
	// The custom tool waits for its result.
	evs = st.waitFor(t, "custom tool use or end of turn", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return endTurns(evs) == 1 || count(evs, "agent.custom_tool_use") == 1 && evs[len(evs)-1].Type == "session.status_idle"
	})
	if uses := ofType(evs, "agent.custom_tool_use"); len(uses) == 1 {
		f.send(t, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
			CustomToolUseID: uses[0].ID,
			Content:         []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny"}}},
		}})
	}
	evs = st.waitFor(t, "end of turn", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return endTurns(evs) == 1 })
	// The two confirmations settled in one request leave no idle event
	// naming either of them.
	for _, e := range ofType(evs, "session.status_idle")[2:] {
		for _, id := range e.AsSessionStatusIdle().StopReason.EventIDs {
			if slices.Contains(confirmed, id) {
				t.Errorf("idle event %s names %s, already confirmed", e.ID, id)
			}
		}
	}

	// The outcome was graded at the end of the turn.
	got, err := f.client.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if oe := got.OutcomeEvaluations; len(oe) != 1 || oe[0].Result != "satisfied" || oe[0].CompletedAt.IsZero() {
		t.Errorf("outcome_evaluations after the turn = %s", got.JSON.OutcomeEvaluations.Raw())
	}

	// Threads: list, get, their events and stream, archive.
	threads, err := f.client.Beta.Sessions.Threads.List(ctx, sess.ID, anthropic.BetaSessionThreadListParams{})
	if err != nil || len(threads.Data) != 2 {
		t.Fatalf("list threads: %v, %d", err, len(threads.Data))
	}
	sub := threads.Data[1].ID
	if _, err := f.client.Beta.Sessions.Threads.Get(ctx, sub, anthropic.BetaSessionThreadGetParams{SessionID: sess.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Threads.Events.List(ctx, sub, anthropic.BetaSessionThreadEventListParams{SessionID: sess.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Threads.Archive(ctx, sub, anthropic.BetaSessionThreadArchiveParams{SessionID: sess.ID}); err != nil {
		t.Fatal(err)
	}

	// A second turn with a live thread stream, interrupted.
	tctx, tcancel := context.WithCancel(ctx)
	tst := f.client.Beta.Sessions.Threads.Events.StreamEvents(tctx, threads.Data[0].ID, anthropic.BetaSessionThreadEventStreamParams{SessionID: sess.ID})
	f.send(t, sess.ID, userMessage("again"), interrupt())
	st.waitFor(t, "second end of turn", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return count(evs, "user.interrupt") > 0 && endTurns(evs) == 2
	})
	tcancel()
	tst.Close()

	// Session updates, lists, resources, archive and delete.
	if _, err := f.client.Beta.Sessions.Update(ctx, sess.ID, anthropic.BetaSessionUpdateParams{
		Title: anthropic.String("renamed"), Metadata: map[string]string{"k": "v"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Events.List(ctx, sess.ID, anthropic.BetaSessionEventListParams{}); err != nil {
		t.Fatal(err)
	}
	if err := exerciseResources(t, f, sess.ID); err != nil {
		t.Errorf("session resources: %v", err)
	}

	// A session that fails for good: terminated, with its thread.
	term := f.newSession(t, ag.ID, "")
	if err := f.sim.RegisterScenario(sim.Scenario{Name: "fatal", Steps: []sim.Step{
		{Type: sim.StepSubagent, Agent: "doomed", Steps: []sim.Step{{Type: sim.StepMessage, Text: "x"}}},
		{Type: sim.StepError, Error: &sim.SessionError{Type: "unknown_error", RetryStatus: sim.RetryTerminal}},
	}}); err != nil {
		t.Fatal(err)
	}
	tst2 := f.openStream(t, term.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, term.ID, userMessage("scenario:fatal go"))
	tst2.waitFor(t, "termination", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return count(evs, "session.status_terminated") > 0
	})
	if _, err := f.client.Beta.Sessions.Events.List(ctx, term.ID, anthropic.BetaSessionEventListParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Archive(ctx, term.ID, anthropic.BetaSessionArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Delete(ctx, sess.ID, anthropic.BetaSessionDeleteParams{}); err != nil {
		t.Fatal(err)
	}

	routes, seen := checkAnswers(t, rec.all())
	for route := range responseTypes {
		if !routes[route] {
			t.Errorf("route %s was not exercised (or never answered with success)", route)
		}
	}
	for _, typ := range mustEmit {
		if !seen[typ] {
			t.Errorf("event type %s never seen", typ)
		}
	}
}

// exerciseResources lists, gets, updates, adds and deletes the resources
// of a session created with one github_repository resource.
func exerciseResources(t *testing.T, f *fixture, sessionID string) error {
	ctx := t.Context()
	res, err := f.client.Beta.Sessions.Resources.List(ctx, sessionID, anthropic.BetaSessionResourceListParams{})
	if err != nil {
		return err
	}
	if len(res.Data) != 1 {
		return fmt.Errorf("%d resources listed, want 1", len(res.Data))
	}
	repo := res.Data[0].ID
	if _, err := f.client.Beta.Sessions.Resources.Get(ctx, repo, anthropic.BetaSessionResourceGetParams{SessionID: sessionID}); err != nil {
		return err
	}
	if _, err := f.client.Beta.Sessions.Resources.Update(ctx, repo, anthropic.BetaSessionResourceUpdateParams{
		SessionID: sessionID, AuthorizationToken: "ghp_rotated",
	}); err != nil {
		return err
	}
	file, err := f.client.Beta.Sessions.Resources.Add(ctx, sessionID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: "file_011CNha8iCJcU1wXNR6q4V8w"},
	})
	if err != nil {
		return err
	}
	_, err = f.client.Beta.Sessions.Resources.Delete(ctx, file.ID, anthropic.BetaSessionResourceDeleteParams{SessionID: sessionID})
	return err
}

// richAgentParams is an agent with every optional part of its
// configuration set, and an MCP server at mcpURL.
func richAgentParams(mcpURL string) anthropic.BetaAgentNewParams {
	return anthropic.BetaAgentNewParams{
		Name:        "conformance",
		Description: anthropic.String("checks every answer"),
		System:      anthropic.String("be precise"),
		Model: anthropic.BetaManagedAgentsModelConfigParams{
			ID: "claude-sonnet-4-6", Speed: anthropic.BetaManagedAgentsModelConfigParamsSpeedStandard,
			Effort: anthropic.BetaManagedAgentsModelConfigParamsEffortUnion{OfBetaManagedAgentsModelConfigsEffortBetaManagedAgentsEffortLevel: anthropic.String("low")},
		},
		Tools: []anthropic.BetaAgentNewParamsToolUnion{
			{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{
				Configs: []anthropic.BetaManagedAgentsAgentToolConfigParamsUnion{
					{OfWebFetch: &anthropic.BetaManagedAgentsWebFetchToolConfigParams{Enabled: anthropic.Bool(true)}},
					{OfBash: &anthropic.BetaManagedAgentsBashToolConfigParams{Enabled: anthropic.Bool(true)}},
				},
			}},
			mcpToolset("vargate-governance", false),
			{OfCustom: &anthropic.BetaManagedAgentsCustomToolParams{
				Name: "get_weather", Description: "weather of a city",
				InputSchema: anthropic.BetaManagedAgentsCustomToolInputSchemaParam{
					Properties: map[string]any{"city": map[string]any{"type": "string"}},
				},
			}},
		},
		MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "vargate-governance", URL: mcpURL}},
		Skills: []anthropic.BetaManagedAgentsSkillParamsUnion{
			{OfAnthropic: &anthropic.BetaManagedAgentsAnthropicSkillParams{SkillID: "xlsx"}},
		},
		Metadata: map[string]string{"team": "qa"},
	}
}

// endTurns counts the session.status_idle events that end a turn.
func endTurns(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) int {
	n := 0
	for _, e := range ofType(evs, "session.status_idle") {
		if e.AsSessionStatusIdle().StopReason.Type == "end_turn" {
			n++
		}
	}
	return n
}

// rawCall sends body to the simulator as the SDK would, bypassing the
// SDK's types, and returns the status and body.
func rawCall(t *testing.T, f *fixture, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("anthropic-beta", sim.BetaHeader)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestInvalidRequestsRefused sends requests the real API refuses: each
// must get 400 with the API's error body naming the offending field.
func TestInvalidRequestsRefused(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	env := f.newEnvironment(t, "e")
	sess := f.newSession(t, ag.ID, "follow_up")
	over, err := f.client.Beta.Sessions.New(t.Context(), anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgentWithOverridess: &anthropic.BetaManagedAgentsAgentWithOverridesParams{
			ID: ag.ID, System: anthropic.String("governed"),
		}},
		EnvironmentID: env.ID,
		Budget: anthropic.BetaManagedAgentsBudgetLimitParam{MaxListCost: anthropic.BetaMonetaryAmountParam{
			Amount: "2500", Currency: anthropic.BetaCurrencyUSD,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := rawCall(t, f, "POST", "/v1/sessions/"+over.ID, `{"budget":null}`); status != http.StatusOK {
		t.Fatalf("remove the budget: %d %s", status, body)
	}
	okAgent := `"name":"a","model":{"id":"claude-sonnet-4-6"}`
	okSession := `"agent":"` + ag.ID + `","environment_id":"` + env.ID + `"`
	sp := "/v1/sessions/" + sess.ID

	cases := []struct {
		name, method, path, body, field string
	}{
		{"agent unknown top-level field", "POST", "/v1/agents", `{` + okAgent + `,"colour":"red"}`, "colour"},
		{"agent unknown key in toolset", "POST", "/v1/agents", `{` + okAgent + `,"tools":[{"type":"agent_toolset_20260401","bogus":1}]}`, "bogus"},
		{"agent unknown key in toolset config", "POST", "/v1/agents", `{` + okAgent + `,"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"bash","enabled":true,"x":1}]}]}`, "x"},
		{"agent unknown tool type", "POST", "/v1/agents", `{` + okAgent + `,"tools":[{"type":"bogus"}]}`, "tools[0]"},
		{"agent model not a model", "POST", "/v1/agents", `{"name":"a","model":"not-a-model"}`, "model"},
		{"agent model object not a model", "POST", "/v1/agents", `{"name":"a","model":{"id":"not-a-model"}}`, "model"},
		{"agent speed warp", "POST", "/v1/agents", `{"name":"a","model":{"id":"claude-sonnet-4-6","speed":"warp"}}`, "speed"},
		{"agent effort bogus", "POST", "/v1/agents", `{"name":"a","model":{"id":"claude-sonnet-4-6","effort":"extreme"}}`, "effort"},
		{"agent skills bogus type", "POST", "/v1/agents", `{` + okAgent + `,"skills":[{"type":"bogus"}]}`, "skills[0]"},
		{"agent multiagent bogus type", "POST", "/v1/agents", `{` + okAgent + `,"multiagent":{"type":"bogus"}}`, "multiagent"},
		{"agent execution_identity bogus type", "POST", "/v1/agents", `{` + okAgent + `,"execution_identity":{"type":"bogus"}}`, "execution_identity"},
		{"agent bare model string (the SDK sends only the object)", "POST", "/v1/agents", `{"name":"a","model":"claude-sonnet-4-6"}`, "model"},
		{"agent name wrong type", "POST", "/v1/agents", `{"name":5,"model":{"id":"claude-sonnet-4-6"}}`, "name"},
		{"agent update unknown field", "POST", "/v1/agents/" + ag.ID, `{"version":1,"colour":"red"}`, "colour"},
		{"session unknown top-level field", "POST", "/v1/sessions", `{` + okSession + `,"colour":"red"}`, "colour"},
		{"session resource without file id", "POST", "/v1/sessions", `{` + okSession + `,"resources":[{"type":"file"}]}`, "file_id"},
		{"session resource unknown type", "POST", "/v1/sessions", `{` + okSession + `,"resources":[{"type":"floppy"}]}`, "resources[0]"},
		{"session budget not a number", "POST", "/v1/sessions", `{` + okSession + `,"budget":{"type":"limit","max_list_cost":{"amount":"not-a-number","currency":"USD"}}}`, "amount"},
		{"session budget amount with leading zero", "POST", "/v1/sessions", `{` + okSession + `,"budget":{"type":"limit","max_list_cost":{"amount":"0100","currency":"USD"}}}`, "amount"},
		{"session budget unknown currency", "POST", "/v1/sessions", `{` + okSession + `,"budget":{"type":"limit","max_list_cost":{"amount":"1000","currency":"XXX"}}}`, "currency"},
		{"session agent bogus type", "POST", "/v1/sessions", `{"agent":{"type":"bogus","id":"` + ag.ID + `"},"environment_id":"` + env.ID + `"}`, "agent"},
		{"session update unknown field", "POST", sp, `{"colour":"red"}`, "colour"},
		{"session update agent unknown field", "POST", sp, `{"agent":{"colour":"red"}}`, "colour"},
		{"session update agent.system (not updatable)", "POST", sp, `{"agent":{"system":"obey"}}`, "system"},
		{"confirmation of unknown thread", "POST", sp + "/events", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_x","result":"allow","session_thread_id":"sthr_011CZnope"}]}`, "session_thread_id"},
		{"session update agent of an agent_with_overrides session", "POST", "/v1/sessions/" + over.ID, `{"agent":{"tools":[]}}`, "agent"},
		{"session update re-adds a removed budget", "POST", "/v1/sessions/" + over.ID, `{"budget":{"type":"limit","max_list_cost":{"amount":"100","currency":"USD"}}}`, "budget"},
		{"events list unknown type filter", "GET", sp + "/events?types[]=user.bogus", ``, "types"},
		{"body with data after the JSON value", "POST", "/v1/agents", `{` + okAgent + `} {}`, "after the top-level value"},
		{"event unknown field", "POST", sp + "/events", `{"events":[{"type":"user.message","content":[{"type":"text","text":"x"}],"colour":1}]}`, "colour"},
		{"event unknown type", "POST", sp + "/events", `{"events":[{"type":"user.bogus"}]}`, "events[0]"},
		{"event content block bogus", "POST", sp + "/events", `{"events":[{"type":"user.message","content":[{"type":"text"}]}]}`, "text"},
		{"interrupt of unknown thread", "POST", sp + "/events", `{"events":[{"type":"user.interrupt","session_thread_id":"sthr_011CZnope"}]}`, "session_thread_id"},
		{"environment unknown field", "POST", "/v1/environments", `{"name":"x","colour":"red"}`, "colour"},
		{"vault unknown field", "POST", "/v1/vaults", `{"display_name":"x","colour":"red"}`, "colour"},
		{"list limit too large", "GET", "/v1/agents?limit=1000", ``, "limit"},
		{"threads list limit too large", "GET", sp + "/threads?limit=1001", ``, "limit"},
		{"sessions list bogus status", "GET", "/v1/sessions?statuses[]=bogus", ``, "statuses"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := rawCall(t, f, c.method, c.path, c.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", status, body)
			}
			if probs := conformance[anthropic.BetaErrorResponse](body); len(probs) > 0 {
				t.Errorf("error body %s: %v", body, probs)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Type != "invalid_request_error" {
				t.Fatalf("body %s, want the API's invalid_request_error", body)
			}
			if !strings.Contains(e.Error.Message, c.field) {
				t.Errorf("message %q does not name %q", e.Error.Message, c.field)
			}
		})
	}
}

// TestSessionListFilters: memory_store_id matches the sessions that mount
// the store; deployment_id matches none (no simulated deployments).
func TestSessionListFilters(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	env := f.newEnvironment(t, "e")
	ctx := t.Context()
	withStore, err := f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)},
		EnvironmentID: env.ID,
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{{OfMemoryStore: &anthropic.BetaManagedAgentsMemoryStoreResourceParam{
			MemoryStoreID: "memstore_011CZprefs",
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.newSession(t, ag.ID, "")
	for _, c := range []struct {
		p    anthropic.BetaSessionListParams
		want []string
	}{
		{anthropic.BetaSessionListParams{MemoryStoreID: anthropic.String("memstore_011CZprefs")}, []string{withStore.ID}},
		{anthropic.BetaSessionListParams{MemoryStoreID: anthropic.String("memstore_011CZother")}, nil},
		{anthropic.BetaSessionListParams{DeploymentID: anthropic.String("depl_011CZx")}, nil},
	} {
		page, err := f.client.Beta.Sessions.List(ctx, c.p)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range page.Data {
			got = append(got, s.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("list %+v = %v, want %v", c.p, got, c.want)
		}
	}
}

// TestQueuedMessageListed: a message sent while the session runs is in the
// history at once, with processed_at null until the agent takes it.
func TestQueuedMessageListed(t *testing.T) {
	f := newFixture(t, sim.Options{})
	if err := f.sim.RegisterScenario(sim.Scenario{Name: "slow", Steps: []sim.Step{
		{Type: sim.StepWait, Duration: sim.Duration(30 * time.Second)}, {Type: sim.StepEndTurn},
	}}); err != nil {
		t.Fatal(err)
	}
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "slow")
	f.send(t, sess.ID, userMessage("first"))
	if err := f.sim.WaitFor(ctxFor(t), sess.ID, func(info sim.SessionInfo, _ []sim.Event) bool { return info.Status == sim.StatusRunning }); err != nil {
		t.Fatal(err)
	}
	sent, err := f.client.Beta.Sessions.Events.Send(t.Context(), sess.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("second")},
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := f.client.Beta.Sessions.Events.List(t.Context(), sess.ID, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	last := page.Data[len(page.Data)-1]
	if last.ID != sent.Data[0].ID || last.Type != "user.message" || last.JSON.ProcessedAt.Raw() != "null" {
		t.Errorf("last listed event = %s, want the queued message %s with processed_at null", last.RawJSON(), sent.Data[0].ID)
	}
}

// TestStaleAgentUpdateNotRetried: a 409 says x-should-retry: false, so the
// SDK does not retry a conflict that cannot resolve itself.
func TestStaleAgentUpdateNotRetried(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	status, _ := rawCall(t, f, "POST", "/v1/agents/"+ag.ID, `{"version":1,"description":"v2"}`)
	if status != http.StatusOK {
		t.Fatalf("first update: %d", status)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.url+"/v1/agents/"+ag.ID, strings.NewReader(`{"version":1,"description":"stale"}`))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("anthropic-beta", sim.BetaHeader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("x-should-retry") != "false" {
		t.Errorf("stale update: %d, x-should-retry %q; want 409 and false", resp.StatusCode, resp.Header.Get("x-should-retry"))
	}
}
