package sim_test

import (
	"slices"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// docs/scenario-example.json plays through: the stream is dropped in the
// middle of the turn, a new stream gets no replay, and the history (paged
// with the SDK) holds every event; the duplicated step arrives twice.
func TestDocsExampleScenario(t *testing.T) {
	sc, err := sim.LoadScenario("../../docs/scenario-example.json")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, sim.Options{Scenarios: []sim.Scenario{sc}})
	srv := newMCPServer(t)
	ag := f.newAgent(t, srv.URL, true)
	sess := f.newSession(t, ag.ID, "example")

	first := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("start"))
	first.waitEnd(t) // drop_stream
	firstEvs := first.events()
	if first.err != nil {
		t.Errorf("dropped stream ended with %v, want a clean end", first.err)
	}
	second := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	if err := f.sim.WaitIdle(ctxFor(t), sess.ID, "end_turn"); err != nil {
		t.Fatal(err)
	}

	// The duplicated bash step: its tool use arrived twice with one ID.
	uses := ofType(firstEvs, "agent.tool_use")
	if len(uses) != 2 || uses[0].ID != uses[1].ID {
		t.Errorf("duplicated tool use on the stream: %d events, want the same ID twice", len(uses))
	}
	for _, typ := range []string{"agent.thinking", "agent.mcp_tool_use", "agent.mcp_tool_result", "session.error", "session.status_rescheduled"} {
		if count(firstEvs, typ) == 0 {
			t.Errorf("no %s before the drop; got %v", typ, types(firstEvs))
		}
	}
	if e := ofType(firstEvs, "session.error")[0].AsSessionError().Error; e.Type != "model_overloaded_error" || e.RetryStatus.Type != "retrying" {
		t.Errorf("session.error = %s/%s", e.Type, e.RetryStatus.Type)
	}

	// No replay: the new stream starts after it connected.
	seen := map[string]bool{}
	for _, e := range firstEvs {
		seen[e.ID] = true
	}
	for _, e := range second.events() {
		if seen[e.ID] {
			t.Errorf("the new stream replayed %s %s", e.Type, e.ID)
		}
		seen[e.ID] = true
	}

	// Reconnect recipe: page the history and dedupe by ID.
	var history []string
	pager := f.client.Beta.Sessions.Events.ListAutoPaging(t.Context(), sess.ID, anthropic.BetaSessionEventListParams{Limit: anthropic.Int(5)})
	for pager.Next() {
		e := pager.Current()
		if slices.Contains(history, e.ID) {
			t.Errorf("history lists %s twice", e.ID)
		}
		history = append(history, e.ID)
		seen[e.ID] = true
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(history) {
		t.Errorf("streams and history: %d distinct events, history %d; every streamed event must be in the history", len(seen), len(history))
	}
	evs, _ := f.sim.Events(sess.ID)
	got := types(evs)
	for _, typ := range []string{"agent.tool_result", "session.status_rescheduled", "session.status_running", "agent.message", "session.status_idle"} {
		if !slices.Contains(got, typ) {
			t.Errorf("history lacks %s: %v", typ, got)
		}
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("MCP calls = %d, want 1", n)
	}

	f.send(t, sess.ID, userMessage("thanks"))
	second.waitFor(t, "the follow-up reply", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		msgs := ofType(evs, "agent.message")
		return len(msgs) > 0 && msgs[len(msgs)-1].AsAgentMessage().Content[0].Text == "You said: thanks"
	})
}

func TestSessionErrors(t *testing.T) {
	f := newFixture(t, sim.Options{Scenarios: []sim.Scenario{
		{Name: "exhaust", Steps: []sim.Step{
			{Type: sim.StepMessage, Text: "trying"},
			{Type: sim.StepError, Error: &sim.SessionError{Type: "model_rate_limited_error", RetryStatus: sim.RetryExhausted}},
			{Type: sim.StepMessage, Text: "skipped"},
			{Type: sim.StepEndTurn},
			{Type: sim.StepMessage, Text: "next turn"},
			{Type: sim.StepEndTurn},
		}},
		{Name: "fatal", Steps: []sim.Step{
			{Type: sim.StepError, Error: &sim.SessionError{Type: "billing_error", Message: "no credit", RetryStatus: sim.RetryTerminal}},
		}},
	}})
	ag := f.newAgent(t, "", false)

	sess := f.newSession(t, ag.ID, "exhaust")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("go"))
	evs := st.waitIdle(t, 1)
	if r := ofType(evs, "session.status_idle")[0].AsSessionStatusIdle().StopReason.Type; r != "retries_exhausted" {
		t.Errorf("stop_reason = %s, want retries_exhausted", r)
	}
	if e := ofType(evs, "session.error")[0].AsSessionError().Error; e.Type != "model_rate_limited_error" || e.RetryStatus.Type != "exhausted" || e.Message == "" {
		t.Errorf("session.error = %+v", e)
	}
	f.send(t, sess.ID, userMessage("again"))
	evs = st.waitIdle(t, 2)
	var said []string
	for _, m := range ofType(evs, "agent.message") {
		said = append(said, m.AsAgentMessage().Content[0].Text)
	}
	if !slices.Equal(said, []string{"trying", "next turn"}) {
		t.Errorf("agent said %q, want the rest of the failed turn skipped", said)
	}

	dead := f.newSession(t, ag.ID, "fatal")
	st = f.openStream(t, dead.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, dead.ID, userMessage("go"))
	st.waitFor(t, "termination", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return count(evs, "session.status_terminated") == 1
	})
	got, err := f.client.Beta.Sessions.Get(t.Context(), dead.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "terminated" {
		t.Errorf("status = %s, want terminated", got.Status)
	}
	_, err = f.client.Beta.Sessions.Events.Send(t.Context(), dead.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hello?")},
	})
	if ae := apiError(t, err); ae.StatusCode != 409 {
		t.Errorf("sending to a terminated session: %d, want 409", ae.StatusCode)
	}
}

// event_deltas[] adds previews before the event itself.
func TestEventDeltas(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "follow_up")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{
		EventDeltas: []anthropic.BetaManagedAgentsDeltaType{"agent.message"},
	})
	f.send(t, sess.ID, userMessage("hi"))
	evs := st.waitIdle(t, 1)
	i := slices.IndexFunc(evs, func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return e.Type == "event_start" })
	if i < 0 || i+2 >= len(evs) || evs[i+1].Type != "event_delta" || evs[i+2].Type != "agent.message" {
		t.Fatalf("stream = %v, want event_start, event_delta, agent.message", types(evs))
	}
	msg := evs[i+2]
	if evs[i].Event.ID != msg.ID || evs[i+1].EventID != msg.ID || evs[i+1].Delta.Content.Text != msg.AsAgentMessage().Content[0].Text {
		t.Errorf("previews do not match the message: %s / %s / %s", evs[i].RawJSON(), evs[i+1].RawJSON(), msg.RawJSON())
	}

	bad := f.client.Beta.Sessions.Events.StreamEvents(t.Context(), sess.ID, anthropic.BetaSessionEventStreamParams{
		EventDeltas: []anthropic.BetaManagedAgentsDeltaType{"agent.tool_use"},
	})
	defer bad.Close()
	if ae := apiError(t, bad.Err()); ae.StatusCode != 400 {
		t.Errorf("unsupported event_deltas: %d, want 400", ae.StatusCode)
	}
}
