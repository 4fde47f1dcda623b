package sim_test

import (
	"slices"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// A subagent step runs in a sub-agent thread: the SDK lists the primary
// and the sub-agent thread, the thread's stream and history hold its tool
// calls tagged with session_thread_id, and the session stream shows only
// the thread's creation, status changes and report.
func TestSubagentThread(t *testing.T) {
	f := newFixture(t, sim.Options{})
	err := f.sim.RegisterScenario(sim.Scenario{Name: "delegate", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "Delegating the build."},
		{Type: sim.StepSubagent, Agent: "builder", Steps: []sim.Step{
			{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "go build ./..."}, Result: "ok"},
			{Type: sim.StepMessage, Text: "Built."},
		}},
		{Type: sim.StepMessage, Text: "The build passed."},
		{Type: sim.StepEndTurn},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sim.RegisterScenario(sim.Scenario{Name: "bad", Steps: []sim.Step{{Type: sim.StepSubagent, Agent: "x", Steps: []sim.Step{{Type: sim.StepEndTurn}}}}}); err == nil {
		t.Error("a sub-agent with an end_turn step was accepted")
	}
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "delegate")
	primary := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("build it"))
	evs := primary.waitIdle(t, 1)

	ctx := t.Context()
	page, err := f.client.Beta.Sessions.Threads.List(ctx, sess.ID, anthropic.BetaSessionThreadListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ParentThreadID != "" || page.Data[1].ParentThreadID != page.Data[0].ID ||
		page.Data[1].Agent.Name != "builder" || page.Data[1].Status != anthropic.BetaManagedAgentsSessionThreadStatusIdle {
		t.Fatalf("threads = %+v", page.Data)
	}
	sub := page.Data[1]
	got, err := f.client.Beta.Sessions.Threads.Get(ctx, sub.ID, anthropic.BetaSessionThreadGetParams{SessionID: sess.ID})
	if err != nil || got.ID != sub.ID {
		t.Fatalf("get thread = %+v, %v", got, err)
	}

	// The session stream: no sub-agent tool call, its lifecycle yes.
	var primaryTypes []string
	for _, e := range evs {
		primaryTypes = append(primaryTypes, e.Type)
	}
	for _, typ := range []string{"session.thread_created", "session.thread_status_running", "session.thread_status_idle", "agent.thread_message_received"} {
		if !slices.Contains(primaryTypes, typ) {
			t.Errorf("the session stream lacks %s: %v", typ, primaryTypes)
		}
	}
	if slices.Contains(primaryTypes, "agent.tool_use") {
		t.Errorf("a sub-agent's allowed tool call is on the session stream: %v", primaryTypes)
	}
	for _, e := range ofType(evs, "session.thread_created") {
		if e.AsSessionThreadCreated().SessionThreadID != sub.ID {
			t.Errorf("thread_created names %s, want %s", e.AsSessionThreadCreated().SessionThreadID, sub.ID)
		}
	}

	// The thread's history: its tool call and result, tagged.
	hist, err := f.client.Beta.Sessions.Threads.Events.List(ctx, sub.ID, anthropic.BetaSessionThreadEventListParams{SessionID: sess.ID})
	if err != nil {
		t.Fatal(err)
	}
	var uses int
	for _, e := range hist.Data {
		if e.Type == "agent.tool_use" {
			uses++
			if u := e.AsAgentToolUse(); u.Name != "bash" || u.SessionThreadID != sub.ID {
				t.Errorf("thread tool use %+v", u)
			}
		}
	}
	if uses != 1 {
		t.Errorf("thread history has %d tool uses: %d events", uses, len(hist.Data))
	}
	// The primary thread's ID names the session stream's history.
	ph, err := f.client.Beta.Sessions.Threads.Events.List(ctx, page.Data[0].ID, anthropic.BetaSessionThreadEventListParams{SessionID: sess.ID})
	if err != nil || len(ph.Data) == 0 || slices.ContainsFunc(ph.Data, func(e anthropic.BetaManagedAgentsSessionEventUnion) bool { return e.Type == "agent.tool_use" }) {
		t.Errorf("primary thread history: %d events, %v", len(ph.Data), err)
	}
	if _, err := f.client.Beta.Sessions.Threads.Get(ctx, "sthr_nope", anthropic.BetaSessionThreadGetParams{SessionID: sess.ID}); err == nil {
		t.Error("an unknown thread was found")
	}
	if a, err := f.client.Beta.Sessions.Threads.Archive(ctx, sub.ID, anthropic.BetaSessionThreadArchiveParams{SessionID: sess.ID}); err != nil || a.ArchivedAt.IsZero() {
		t.Errorf("archive thread = %+v, %v", a, err)
	}
}
