package sim_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

func TestSessionUpdateArchiveDelete(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ctx := t.Context()
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "follow_up")
	st := f.openStream(t, sess.ID, anthropic.BetaSessionEventStreamParams{})

	up, err := f.client.Beta.Sessions.Update(ctx, sess.ID, anthropic.BetaSessionUpdateParams{
		Title: anthropic.String("Quarterly report"), Metadata: map[string]string{"ticket": "T-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Title != "Quarterly report" || up.Metadata["ticket"] != "T-1" || up.Metadata[sim.MetadataScenarioKey] != "follow_up" {
		t.Errorf("updated session: title %q metadata %v", up.Title, up.Metadata)
	}
	evs := st.waitFor(t, "session.updated", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return count(evs, "session.updated") == 1
	})
	if u := evs[0].AsSessionUpdated(); u.Title != "Quarterly report" || u.Metadata["ticket"] != "T-1" {
		t.Errorf("session.updated = %s", evs[0].RawJSON())
	}
	_, err = f.client.Beta.Sessions.Update(ctx, sess.ID, anthropic.BetaSessionUpdateParams{VaultIDs: []string{"vlt_x"}})
	if ae := apiError(t, err); ae.StatusCode != 400 {
		t.Errorf("updating vault_ids: %d, want 400", ae.StatusCode)
	}

	del, err := f.client.Beta.Sessions.Delete(ctx, sess.ID, anthropic.BetaSessionDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if del.ID != sess.ID || del.Type != "session_deleted" {
		t.Errorf("delete = %s", del.RawJSON())
	}
	st.waitEnd(t)
	if evs := st.events(); evs[len(evs)-1].Type != "session.deleted" {
		t.Errorf("last streamed event = %s, want session.deleted", evs[len(evs)-1].Type)
	}
	if _, err := f.sim.Session(sess.ID); err == nil {
		t.Error("the simulator still knows the deleted session")
	}

	// Archive: history kept, no new events.
	arch := f.newSession(t, ag.ID, "follow_up")
	if ids := f.sim.SessionIDs(); !slices.Equal(ids, []string{arch.ID}) {
		t.Errorf("SessionIDs = %v, want only %s", ids, arch.ID)
	}
	f.send(t, arch.ID, userMessage("hi"))
	if err := f.sim.WaitIdle(ctxFor(t), arch.ID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.Beta.Sessions.Archive(ctx, arch.ID, anthropic.BetaSessionArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ArchivedAt.IsZero() {
		t.Error("archived session has no archived_at")
	}
	_, err = f.client.Beta.Sessions.Events.Send(ctx, arch.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("again")},
	})
	if ae := apiError(t, err); ae.StatusCode != 409 {
		t.Errorf("sending to an archived session: %d, want 409", ae.StatusCode)
	}
	hist, err := f.client.Beta.Sessions.Events.List(ctx, arch.ID, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Data) == 0 {
		t.Error("archived session lost its history")
	}
}

// A running session can be neither deleted nor archived.
func TestRunningSessionCannotBeDeleted(t *testing.T) {
	f := newFixture(t, sim.Options{})
	registerSlow(t, f)
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "slow")
	f.send(t, sess.ID, userMessage("go"))
	if err := f.sim.WaitFor(ctxFor(t), sess.ID, func(i sim.SessionInfo, _ []sim.Event) bool { return i.Status == "running" }); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.Beta.Sessions.Delete(t.Context(), sess.ID, anthropic.BetaSessionDeleteParams{})
	if ae := apiError(t, err); ae.StatusCode != 409 {
		t.Errorf("delete while running: %d, want 409", ae.StatusCode)
	}
	_, err = f.client.Beta.Sessions.Archive(t.Context(), sess.ID, anthropic.BetaSessionArchiveParams{})
	if ae := apiError(t, err); ae.StatusCode != 409 {
		t.Errorf("archive while running: %d, want 409", ae.StatusCode)
	}
	f.send(t, sess.ID, interrupt())
	if err := f.sim.WaitIdle(ctxFor(t), sess.ID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Beta.Sessions.Delete(t.Context(), sess.ID, anthropic.BetaSessionDeleteParams{}); err != nil {
		t.Errorf("delete after the interrupt: %v", err)
	}
}

// initial_events start the first turn in the create call.
func TestInitialEvents(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	env := f.newEnvironment(t, "initial")
	sess, err := f.client.Beta.Sessions.New(t.Context(), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)},
		EnvironmentID: env.ID,
		Metadata:      map[string]string{sim.MetadataScenarioKey: "benign"},
		InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
			Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "build it"}}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sim.WaitIdle(ctxFor(t), sess.ID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	evs, _ := f.sim.Events(sess.ID)
	if types(evs)[0] != "user.message" || len(evs) < 10 {
		t.Errorf("events = %v, want the benign turn", types(evs))
	}
}

// The scenario comes from the session metadata or the first message.
func TestScenarioSelection(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)

	byMeta := f.newSession(t, ag.ID, "malicious")
	if info, _ := f.sim.Session(byMeta.ID); info.Scenario != "malicious" {
		t.Errorf("scenario from metadata = %q, want malicious", info.Scenario)
	}
	env := f.newEnvironment(t, "unknown")
	_, err := f.client.Beta.Sessions.New(t.Context(), anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)}, EnvironmentID: env.ID,
		Metadata: map[string]string{sim.MetadataScenarioKey: "nope"},
	})
	if ae := apiError(t, err); ae.StatusCode != 400 || !strings.Contains(ae.Message, "benign") {
		t.Errorf("unknown scenario in metadata: %d %q, want 400 listing the known ones", ae.StatusCode, ae.Message)
	}

	byMsg := f.newSession(t, ag.ID, "")
	if info, _ := f.sim.Session(byMsg.ID); info.Scenario != "default" {
		t.Errorf("scenario without a choice = %q, want default", info.Scenario)
	}
	st := f.openStream(t, byMsg.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, byMsg.ID, userMessage("scenario:malicious deploy the service"))
	evs := st.waitIdle(t, 1)
	var commands []string
	for _, e := range ofType(evs, "agent.tool_use") {
		commands = append(commands, e.AsAgentToolUse().Input["command"].(string))
	}
	want := []string{"cat ~/.ssh/id_rsa", "| sh", "curl -s -X POST -d @"}
	for i, w := range want {
		if i >= len(commands) || !strings.Contains(commands[i], w) {
			t.Errorf("malicious command %d = %v, want one containing %q", i, commands, w)
		}
	}
	if info, _ := f.sim.Session(byMsg.ID); info.Scenario != "malicious" {
		t.Errorf("scenario after the message = %q, want malicious", info.Scenario)
	}

	unknown := f.newSession(t, ag.ID, "")
	st = f.openStream(t, unknown.ID, anthropic.BetaSessionEventStreamParams{})
	f.send(t, unknown.ID, userMessage("scenario:nope"))
	evs = st.waitIdle(t, 1)
	if text := ofType(evs, "agent.message")[0].AsAgentMessage().Content[0].Text; !strings.Contains(text, "Unknown scenario") || !strings.Contains(text, "follow_up") {
		t.Errorf("reply to an unknown scenario = %q", text)
	}
}

// The event history pages and filters like the real API.
func TestEventHistory(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ag := f.newAgent(t, "", false)
	sess := f.newSession(t, ag.ID, "benign")
	f.send(t, sess.ID, userMessage("build"))
	if err := f.sim.WaitIdle(ctxFor(t), sess.ID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	want, _ := f.sim.Events(sess.ID)
	var got []string
	pager := f.client.Beta.Sessions.Events.ListAutoPaging(t.Context(), sess.ID, anthropic.BetaSessionEventListParams{Limit: anthropic.Int(3)})
	for pager.Next() {
		got = append(got, pager.Current().ID)
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for _, e := range want {
		wantIDs = append(wantIDs, e.ID)
	}
	if !slices.Equal(got, wantIDs) {
		t.Errorf("paged history has %d events, want the %d in order", len(got), len(wantIDs))
	}
	only, err := f.client.Beta.Sessions.Events.List(t.Context(), sess.ID, anthropic.BetaSessionEventListParams{
		Types: []anthropic.BetaManagedAgentsSessionEventType{"agent.tool_use"}, Order: "desc", Limit: anthropic.Int(100),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Data) != 6 || only.Data[0].Input.(map[string]any)["command"] == nil {
		t.Errorf("tool uses listed: %d, want 6", len(only.Data))
	}
	if only.Data[0].Name != "bash" || !strings.Contains(only.Data[0].RawJSON(), "git commit") {
		t.Errorf("newest tool use = %s, want the git commit (desc order)", only.Data[0].RawJSON())
	}
}

// Close stops every runner, whatever it is doing, and ends open streams.
func TestCloseStopsRunners(t *testing.T) {
	s, err := sim.New(sim.Options{StepDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	f := &fixture{sim: s, url: ts.URL, client: newClient(ts.URL, testKey)}
	registerSlow(t, f)
	srv := newMCPServer(t)
	ag := f.newAgent(t, srv.URL, false)

	waiting := f.newSession(t, ag.ID, "slow") // in a long wait
	f.send(t, waiting.ID, userMessage("go"))
	asking := f.newSession(t, ag.ID, "") // parked on a confirmation
	f.send(t, asking.ID, userMessage("go"))
	st := f.openStream(t, asking.ID, anthropic.BetaSessionEventStreamParams{})
	if err := s.WaitIdle(ctxFor(t), asking.ID, "requires_action"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitFor(ctxFor(t), waiting.ID, func(i sim.SessionInfo, _ []sim.Event) bool { return i.Status == "running" }); err != nil {
		t.Fatal(err)
	}

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return: a runner is still going")
	}
	st.waitEnd(t)
	_, err = f.client.Beta.Agents.List(t.Context(), anthropic.BetaAgentListParams{})
	if ae := apiError(t, err); ae.StatusCode != 529 {
		t.Errorf("request after Close: %d, want 529", ae.StatusCode)
	}
}
