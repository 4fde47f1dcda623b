package sim_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// A turn streamed with the SDK while the message is sent: the user message
// echo, running, the scripted output with model spans, then idle end_turn.
func TestStreamTurn(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "benign")
	if sess.Status != "idle" {
		t.Errorf("new session status = %q, want idle", sess.Status)
	}
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("fix the parser"))
	evs := st.waitIdle(t, 1)

	var got []string
	for _, e := range evs {
		if !strings.HasPrefix(e.Type, "span.") && e.Type != "session.usage" {
			got = append(got, e.Type)
		}
	}
	want := []string{"user.message", "session.status_running", "agent.message"}
	for range 6 {
		want = append(want, "agent.tool_use", "agent.tool_result")
	}
	want = append(want, "agent.message", "session.status_idle")
	if !slices.Equal(got, want) {
		t.Fatalf("event types:\n got %v\nwant %v", got, want)
	}
	for _, e := range evs {
		if !strings.HasPrefix(e.ID, "sevt_") || e.ProcessedAt.IsZero() {
			t.Errorf("event %s %q: want a sevt_ ID and processed_at", e.Type, e.ID)
		}
	}
	uses := ofType(evs, "agent.tool_use")
	if u := uses[3].AsAgentToolUse(); u.Name != "bash" || u.Input["command"] != "go test ./..." || u.EvaluatedPermission != "allow" || u.Evaluation.Type != "always_allow" {
		t.Errorf("4th tool use = %s %v %s/%s, want bash go test, allowed by always_allow", u.Name, u.Input, u.EvaluatedPermission, u.Evaluation.Type)
	}
	res := ofType(evs, "agent.tool_result")[3].AsAgentToolResult()
	if res.ToolUseID != uses[3].ID || res.IsError || len(res.Content) != 1 || !strings.Contains(res.Content[0].Text, "ok") {
		t.Errorf("4th tool result = %+v, want the canned go test output for %s", res, uses[3].ID)
	}
	idle := evs[len(evs)-1].AsSessionStatusIdle()
	if idle.StopReason.Type != "end_turn" {
		t.Errorf("stop_reason = %q, want end_turn", idle.StopReason.Type)
	}
	got2, err := f.client.Beta.Sessions.Get(t.Context(), sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got2.Status != "idle" || got2.Stats.ActiveSeconds <= 0 {
		t.Errorf("session after the turn: status %q, active %v; want idle and some active time", got2.Status, got2.Stats.ActiveSeconds)
	}
}
