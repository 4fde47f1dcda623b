package sim_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

func registerSlow(t *testing.T, f *fixture) {
	t.Helper()
	err := f.sim.RegisterScenario(sim.Scenario{Name: "slow", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "starting"},
		{Type: sim.StepWait, Duration: sim.Duration(3600e9)}, // an hour of scenario time: only an interrupt ends it
		{Type: sim.StepMessage, Text: "never said"},
		{Type: sim.StepEndTurn},
		{Type: sim.StepMessage, Text: "second turn"},
		{Type: sim.StepEndTurn},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// An interrupt jumps the queue, forces idle with end_turn, skips the rest of
// the turn, and a queued message then starts the next turn.
func TestInterrupt(t *testing.T) {
	f := newFixture(t, sim.Options{})
	registerSlow(t, f)
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "slow")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("first"))
	st.waitFor(t, "the first message", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return count(evs, "agent.message") == 1
	})

	sent, err := f.client.Beta.Sessions.Events.Send(t.Context(), sess.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("second")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sent.Data[0].ProcessedAt.IsZero() {
		t.Errorf("a message sent while running has processed_at %v, want null (queued)", sent.Data[0].ProcessedAt)
	}
	f.send(t, sess.ID, interrupt())
	evs := st.waitIdle(t, 2)

	var got []string
	for _, e := range evs {
		if !strings.HasPrefix(e.Type, "span.") && e.Type != "session.usage" {
			got = append(got, e.Type)
		}
	}
	got = got[3:] // after user.message, running, agent.message
	want := []string{"user.interrupt", "session.status_idle", "user.message", "session.status_running", "agent.message", "session.status_idle"}
	if !slices.Equal(got, want) {
		t.Fatalf("events after the interrupt:\n got %v\nwant %v", got, want)
	}
	idles := ofType(evs, "session.status_idle")
	if r := idles[0].AsSessionStatusIdle().StopReason.Type; r != "end_turn" {
		t.Errorf("interrupted turn stop_reason = %s, want end_turn", r)
	}
	msgs := ofType(evs, "agent.message")
	if text := msgs[len(msgs)-1].AsAgentMessage().Content[0].Text; text != "second turn" {
		t.Errorf("next turn said %q, want the step after end_turn", text)
	}
}

// An interrupt on an idle session is recorded and changes nothing.
func TestInterruptIdleIsNoOp(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "follow_up")
	f.send(t, sess.ID, interrupt())
	evs, err := f.sim.Events(sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(evs); !slices.Equal(got, []string{"user.interrupt"}) {
		t.Errorf("events = %v, want only the user.interrupt", got)
	}
	info, err := f.sim.Session(sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "idle" {
		t.Errorf("status = %s, want idle", info.Status)
	}
	// The session still works.
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, sess.ID, userMessage("hello"))
	if evs := st.waitIdle(t, 1); count(evs, "agent.message") != 1 {
		t.Errorf("turn after the no-op interrupt: %v", types(evs))
	}
}
