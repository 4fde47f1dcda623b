package observe_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
)

// checkComplete checks that every upstream event of the session is stored
// exactly once and every tool use has exactly one observed record.
func (f *fixture) checkComplete(t *testing.T, target observe.Target) {
	t.Helper()
	want := ids(f.simEvents(target.UpstreamID))
	got := f.storedEvents(target.SessionID)
	gotSorted, wantSorted := slices.Clone(got), slices.Clone(want)
	slices.Sort(gotSorted)
	slices.Sort(wantSorted)
	if !slices.Equal(gotSorted, wantSorted) {
		t.Errorf("stored events: %d (%v)\nupstream events: %d (%v)", len(got), got, len(want), want)
	}
	uses := ids(append(ofType(f.simEvents(target.UpstreamID), "agent.tool_use"), ofType(f.simEvents(target.UpstreamID), "agent.mcp_tool_use")...))
	obs := actionIDs(f.records(target.SessionID, audit.SourceMCPObserved))
	slices.Sort(uses)
	slices.Sort(obs)
	if !slices.Equal(uses, obs) {
		t.Errorf("observed records for tool uses %v, want one each for %v", obs, uses)
	}
}

// A stream dropped in the middle of a turn, and a stream that goes silent
// (no heartbeats) for longer than SSETimeout, are reconnected; the
// history back-fill and the deduplication lose and double nothing, also
// with duplicated deliveries.
func TestReconnectMidTurn(t *testing.T) {
	f := newFixture(t, sim.Options{HeartbeatInterval: time.Hour})
	f.scenario(sim.Scenario{Name: "flaky", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "Looking around."},
		{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "ls -la"}, Result: "README.md\ngo.mod", Duplicate: true},
		{Type: sim.StepDropStream},
		{Type: sim.StepTool, Name: "read", Input: map[string]any{"file_path": "README.md"}, Result: "# demo"},
		{Type: sim.StepWait, Duration: sim.Duration(60 * time.Second)}, // 600ms: longer than SSETimeout
		bash("go test ./...", "ok"),
		{Type: sim.StepParallel, Duplicate: true, Steps: []sim.Step{
			{Type: sim.StepTool, Name: "grep", Input: map[string]any{"pattern": "TODO", "path": "."}, Result: "main.go:3: TODO"},
			{Type: sim.StepTool, Name: "glob", Input: map[string]any{"pattern": "**/*.go"}, Result: "main.go"},
		}},
		{Type: sim.StepDropStream},
		{Type: sim.StepMessage, Text: "Done."},
		{Type: sim.StepEndTurn},
	}})
	svc := f.newService("p1", func(s *observe.Service) { s.SSETimeout = 200 * time.Millisecond })
	target := f.startSession(agentSpec{scenario: "flaky"})
	if err := svc.Observe(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	f.send(target.UpstreamID, "go")
	f.waitTurnEnded(target.SessionID, 1)
	f.checkComplete(t, target)
	st := svc.Stats()
	if st.Connections < 3 {
		t.Errorf("connections = %d, want at least 3 (two drops and a silent stream)", st.Connections)
	}
	if st.Duplicates == 0 {
		t.Errorf("no duplicate was dropped; the scenario delivers some twice and the back-fill overlaps the stream")
	}
	if got := f.life.snapshot(target.SessionID); !slices.Equal(got.stops, []string{"end_turn"}) || got.status != session.StatusCompleted {
		t.Errorf("lifecycle: stops %v status %s, want one end_turn and completed", got.stops, got.status)
	}
	// The observed record holds what the guide promises.
	for _, r := range f.records(target.SessionID, audit.SourceMCPObserved) {
		var d struct {
			ResultExcerpt string `json:"result_excerpt"`
			IsError       bool   `json:"is_error"`
		}
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if r.Decision != observe.DecisionObserved || r.Tool == "" || r.ArgsDigest == "" || len(r.ArgsRedacted) == 0 || r.ResultDigest == "" || len(r.Anomaly) == 0 {
			t.Errorf("observed record lacks fields: %+v", r)
		}
		if r.Tool == "read" && d.ResultExcerpt != "# demo" {
			t.Errorf("read's result excerpt = %q", d.ResultExcerpt)
		}
	}
}

// longTurn is a turn with a pause in the middle, long enough to stop one
// gateway and start another.
func longTurn() sim.Scenario {
	return sim.Scenario{Name: "long", Steps: []sim.Step{
		bash("ls", "README.md"),
		{Type: sim.StepWait, Duration: sim.Duration(100 * time.Second)}, // 1s
		bash("go build ./...", ""),
		{Type: sim.StepTool, Name: "read", Input: map[string]any{"file_path": "go.mod"}, Result: "module demo"},
		{Type: sim.StepMessage, Text: "Built."},
		{Type: sim.StepEndTurn},
	}}
}

// A gateway that stops (and releases its leases) is resumed by the next
// one: it back-fills what happened meanwhile, and nothing is lost or
// doubled.
func TestRestartResumes(t *testing.T) {
	f := newFixture(t, sim.Options{})
	f.scenario(longTurn())
	first := f.newService("gw-1", nil)
	target := f.startSession(agentSpec{scenario: "long"})
	if err := first.Observe(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	f.send(target.UpstreamID, "go")
	waitFor(t, "the first tool result", func() bool { return len(f.records(target.SessionID, audit.SourceMCPObserved)) == 1 })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// The turn ends while no gateway listens.
	if err := f.sim.WaitIdle(t.Context(), target.UpstreamID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	second := f.newService("gw-2", nil)
	f.waitTurnEnded(target.SessionID, 1)
	f.checkComplete(t, target)
	if second.Stats().Events == 0 {
		t.Errorf("the second gateway stored nothing")
	}
}

// A gateway that dies (stops renewing its lease and writing) loses its
// sessions to a survivor once the lease lapses, on both databases.
func TestSurvivorTakesOver(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f := newFixtureOn(t, sim.Options{}, d)
			f.scenario(longTurn())
			dying := &crashStore{Store: f.store}
			first := f.newService("gw-dying", func(s *observe.Service) { s.Store = dying; s.LeaseTTL = 300 * time.Millisecond })
			second := f.newService("gw-survivor", func(s *observe.Service) { s.LeaseTTL = 300 * time.Millisecond })
			target := f.startSession(agentSpec{scenario: "long"})
			if err := first.Observe(t.Context(), target); err != nil {
				t.Fatal(err)
			}
			if !first.Observing(target.SessionID) || second.Observing(target.SessionID) {
				t.Fatal("the first gateway should consume the session it registered, and only it")
			}
			f.send(target.UpstreamID, "go")
			waitFor(t, "the first tool result", func() bool { return len(f.records(target.SessionID, audit.SourceMCPObserved)) == 1 })
			dying.crash()
			f.waitTurnEnded(target.SessionID, 1)
			f.checkComplete(t, target)
			if second.Stats().Events == 0 {
				t.Errorf("the survivor stored nothing")
			}
		})
	}
}

// Session errors are recorded; a terminal one fails the session and ends
// its consumer.
func TestSessionErrors(t *testing.T) {
	f := newFixture(t, sim.Options{})
	f.scenario(sim.Scenario{Name: "fails", Steps: []sim.Step{
		bash("ls", "README.md"),
		{Type: sim.StepError, Error: &sim.SessionError{Type: "model_overloaded_error", RetryStatus: sim.RetryRetrying}, Duration: sim.Duration(time.Second)},
		{Type: sim.StepError, Error: &sim.SessionError{Type: "billing_error", Message: "no credit", RetryStatus: sim.RetryTerminal}},
	}})
	svc := f.newService("p1", nil)
	target := f.startSession(agentSpec{scenario: "fails"})
	if err := svc.Observe(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	f.send(target.UpstreamID, "go")
	done := f.waitDone(target.SessionID)
	if done.Outcome != string(session.StatusFailed) {
		t.Errorf("consumer outcome %q, want failed", done.Outcome)
	}
	life := f.life.snapshot(target.SessionID)
	if life.status != session.StatusFailed || len(life.reasons) != 1 || !strings.Contains(life.reasons[0], "billing_error: no credit") {
		t.Errorf("lifecycle: %s %v", life.status, life.reasons)
	}
	var errs []string
	for _, r := range f.records(target.SessionID, audit.SourceSession) {
		if r.Decision == "error" {
			errs = append(errs, r.Reasons...)
		}
	}
	if !slices.Equal(errs, []string{"model_overloaded_error", "billing_error"}) {
		t.Errorf("error records %v", errs)
	}
	f.checkComplete(t, target)
}

// The malicious scenario crosses the standard threshold and is
// interrupted: anomaly.detected is emitted, the lifecycle is asked to
// interrupt by "system", and the stream confirms the session idle; the
// benign scenario is left alone.
func TestAutoInterrupt(t *testing.T) {
	tests := []struct {
		scenario  string
		interrupt bool
	}{
		{"malicious", true},
		{"benign", false},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			f := newFixture(t, sim.Options{})
			svc := f.newService("p1", nil)
			target := f.startSession(agentSpec{scenario: tt.scenario, riskLevel: "standard"})
			if err := svc.Observe(t.Context(), target); err != nil {
				t.Fatal(err)
			}
			f.send(target.UpstreamID, "go")
			var done observe.Session
			if tt.interrupt {
				done = f.waitDone(target.SessionID)
			} else {
				f.waitTurnEnded(target.SessionID, 1)
			}
			life := f.life.snapshot(target.SessionID)
			interrupts := ofType(f.simEvents(target.UpstreamID), "user.interrupt")
			if got := len(interrupts) > 0; got != tt.interrupt {
				t.Fatalf("interrupt sent = %v, want %v (lifecycle %+v)", got, tt.interrupt, life)
			}
			if got := f.hooks.count(observe.EventAnomalyDetected); (got == 1) != tt.interrupt {
				t.Errorf("anomaly.detected emitted %d times", got)
			}
			uses := ofType(f.simEvents(target.UpstreamID), "agent.tool_use")
			if !tt.interrupt {
				if life.status != session.StatusCompleted || len(life.actors) != 0 {
					t.Errorf("benign session: status %s, interrupted by %v", life.status, life.actors)
				}
				if len(uses) != 6 {
					t.Errorf("benign session ran %d tools, want all 6", len(uses))
				}
				for _, r := range f.records(target.SessionID, audit.SourceMCPObserved) {
					var a struct {
						Flagged bool `json:"flagged"`
					}
					_ = json.Unmarshal(r.Anomaly, &a)
					if a.Flagged {
						t.Errorf("benign call flagged: %s %s", r.Tool, r.Anomaly)
					}
				}
				return
			}
			if life.status != session.StatusInterrupted || !slices.Equal(life.actors, []string{observe.ActorSystem}) {
				t.Errorf("lifecycle: status %s, actors %v", life.status, life.actors)
			}
			if len(life.reasons) != 1 || !strings.Contains(life.reasons[0], "anomaly score") {
				t.Errorf("interrupt reason %v", life.reasons)
			}
			if done.Outcome != string(session.StatusInterrupted) {
				t.Errorf("consumer outcome %q", done.Outcome)
			}
			t.Logf("%d of the 4 malicious tool calls ran before the interrupt took effect", len(uses))
			var confirmed []audit.Record
			waitFor(t, "the interrupt's outcome record", func() bool {
				confirmed = confirmed[:0]
				for _, r := range f.records(target.SessionID, audit.SourceSession) {
					if r.Decision == observe.DecisionInterruptConfirmed || r.Decision == observe.DecisionInterruptUnconfirmed {
						confirmed = append(confirmed, r)
					}
				}
				return len(confirmed) > 0
			})
			if len(confirmed) != 1 || confirmed[0].Actor != observe.ActorSystem || confirmed[0].Decision != observe.DecisionInterruptConfirmed {
				for _, r := range confirmed {
					t.Errorf("interrupt outcome record by %s: %s %s", r.Actor, r.Decision, r.Detail)
				}
			}
			// The secret the agent read never reaches the trail.
			for _, r := range f.records(target.SessionID, audit.SourceMCPObserved) {
				if strings.Contains(string(r.Detail), "BEGIN OPENSSH PRIVATE KEY") {
					t.Errorf("private key in the observed record of %s: %s", r.Tool, r.Detail)
				}
			}
			f.checkComplete(t, target)
		})
	}
}

// A human interrupts a working session: the interrupt is confirmed by
// the stream, reported with who and why, and a second interrupt is a
// conflict.
func TestManualInterrupt(t *testing.T) {
	f := newFixture(t, sim.Options{})
	f.scenario(sim.Scenario{Name: "stuck", Steps: []sim.Step{
		bash("ls", "README.md"),
		{Type: sim.StepWait, Duration: sim.Duration(time.Hour)}, // 36s, cut short by the interrupt
		bash("go build ./...", ""),
		{Type: sim.StepEndTurn},
	}})
	svc := f.newService("p1", nil)
	target := f.startSession(agentSpec{scenario: "stuck"})
	if err := svc.Observe(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	f.send(target.UpstreamID, "go")
	waitFor(t, "the first tool result", func() bool { return len(f.records(target.SessionID, audit.SourceMCPObserved)) == 1 })
	admin := vargate.Principal{TenantID: tenantID, Role: vargate.RoleAdmin, KeyID: "key-admin"}
	if _, err := svc.Interrupt(t.Context(), admin, target.SessionID, "  "); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("no reason: got %v, want invalid", err)
	}
	res, err := svc.Interrupt(t.Context(), admin, target.SessionID, "Agent attempted to access production database credentials")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Confirmed || res.Status != "interrupted" || res.InterruptedBy != "key-admin" || res.EndedAt.IsZero() || res.SessionID != target.SessionID {
		t.Errorf("interrupt result %+v", res)
	}
	if _, err := svc.Interrupt(t.Context(), admin, target.SessionID, "again"); !vargate.IsKind(err, vargate.KindConflict) {
		t.Errorf("interrupting an interrupted session: got %v, want conflict", err)
	}
	other := vargate.Principal{TenantID: "tenant-b", Role: vargate.RoleAdmin, KeyID: "key-b"}
	if _, err := svc.Interrupt(t.Context(), other, target.SessionID, "not yours"); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("another tenant's interrupt: got %v, want not found", err)
	}
	svc.Detach(target.SessionID) // what the session lifecycle does when a session ends
	done := f.waitDone(target.SessionID)
	if done.Outcome != string(session.StatusInterrupted) {
		t.Errorf("consumer outcome %q", done.Outcome)
	}
	if n := len(ofType(f.simEvents(target.UpstreamID), "agent.tool_use")); n != 1 {
		t.Errorf("%d tools ran, want only the one before the interrupt", n)
	}
	f.checkComplete(t, target)
}

// An interrupt decided just as the session finishes its work by itself:
// the session is marked interrupted, its turn ends, and only then is
// user.interrupt sent (a no-op against an idle session, but echoed). The
// consumer reads on until the echo, so the trail is whole and the stream
// confirms the interrupt. Without any consumer of the stream, the API's
// session status confirms it, and the record says which.
func TestInterruptAsSessionGoesIdle(t *testing.T) {
	admin := vargate.Principal{TenantID: tenantID, Role: vargate.RoleAdmin, KeyID: "key-admin"}
	outcome := func(f *fixture, sessionID string) string {
		t.Helper()
		var out []audit.Record
		for _, r := range f.records(sessionID, audit.SourceSession) {
			if r.Decision == observe.DecisionInterruptConfirmed || r.Decision == observe.DecisionInterruptUnconfirmed {
				out = append(out, r)
			}
		}
		if len(out) != 1 {
			t.Fatalf("%d interrupt outcome records", len(out))
		}
		var d struct {
			ConfirmedBy string `json:"confirmed_by"`
		}
		_ = json.Unmarshal(out[0].Detail, &d)
		return out[0].Decision + " by " + d.ConfirmedBy
	}
	short := sim.Scenario{Name: "short", Steps: []sim.Step{bash("ls", "README.md"), {Type: sim.StepEndTurn}}}

	t.Run("observed", func(t *testing.T) {
		f := newFixture(t, sim.Options{})
		f.scenario(short)
		svc := f.newService("p1", nil)
		target := f.startSession(agentSpec{scenario: "short"})
		if err := svc.Observe(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		f.send(target.UpstreamID, "go")
		f.waitTurnEnded(target.SessionID, 1)
		hold := make(chan struct{})
		f.life.mu.Lock()
		f.life.hold = hold
		f.life.mu.Unlock()
		got := make(chan observe.InterruptResult, 1)
		go func() {
			res, err := svc.Interrupt(context.Background(), admin, target.SessionID, "stop")
			if err != nil {
				t.Error(err)
			}
			got <- res
		}()
		waitFor(t, "the session to be marked interrupted", func() bool {
			return f.life.snapshot(target.SessionID).status == session.StatusInterrupted
		})
		f.send(target.UpstreamID, "one more thing") // its turn ends while the interrupt is on its way
		f.waitTurnEnded(target.SessionID, 2)
		if s, err := f.store.Get(t.Context(), tenantID, target.SessionID); err != nil || s.State == observe.StateDone {
			t.Fatalf("the consumer stopped before the interrupt's echo: %+v %v", s, err)
		}
		close(hold)
		if res := <-got; !res.Confirmed || res.Attempts != 1 {
			t.Errorf("interrupt result %+v; want confirmed at the first attempt", res)
		}
		if got := outcome(f, target.SessionID); got != observe.DecisionInterruptConfirmed+" by stream" {
			t.Errorf("outcome %s", got)
		}
		if done := f.waitDone(target.SessionID); done.Outcome != string(session.StatusInterrupted) {
			t.Errorf("consumer outcome %q", done.Outcome)
		}
		f.checkComplete(t, target)
	})

	t.Run("not observed", func(t *testing.T) {
		f := newFixture(t, sim.Options{})
		f.scenario(short)
		svc := f.newService("p1", nil)
		target := f.startSession(agentSpec{scenario: "short"})
		f.send(target.UpstreamID, "go")
		waitFor(t, "the upstream turn to end", func() bool {
			return len(ofType(f.simEvents(target.UpstreamID), "session.status_idle")) > 0
		})
		res, err := svc.Interrupt(t.Context(), admin, target.SessionID, "stop")
		if err != nil {
			t.Fatal(err)
		}
		if !res.Confirmed || res.Attempts != 1 {
			t.Errorf("interrupt result %+v; want confirmed at the first attempt", res)
		}
		if got := outcome(f, target.SessionID); got != observe.DecisionInterruptConfirmed+" by session_status" {
			t.Errorf("outcome %s", got)
		}
	})
}

// Governed built-in tools are decided before they run.
func TestGovernedBuiltins(t *testing.T) {
	t.Run("denied", func(t *testing.T) {
		f := newFixture(t, sim.Options{})
		f.scenario(sim.Scenario{Name: "steal", Steps: []sim.Step{
			bash("cat ~/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----"),
			{Type: sim.StepMessage, Text: "Could not read it."},
			{Type: sim.StepEndTurn},
		}})
		svc := f.newService("p1", nil)
		target := f.startSession(agentSpec{scenario: "steal", governed: []string{"bash"}, riskLevel: "standard"})
		if err := svc.Observe(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		f.send(target.UpstreamID, "go")
		f.waitTurnEnded(target.SessionID, 1)
		results := ofType(f.simEvents(target.UpstreamID), "agent.tool_result")
		if len(results) != 1 {
			t.Fatalf("%d tool results", len(results))
		}
		var res struct {
			Content []struct{ Text string } `json:"content"`
			IsError bool                    `json:"is_error"`
		}
		if err := json.Unmarshal(results[0].JSON, &res); err != nil {
			t.Fatal(err)
		}
		if !res.IsError || len(res.Content) != 1 || !strings.HasPrefix(res.Content[0].Text, "Vargate denied this tool call: anomaly_credential_access") {
			t.Errorf("the agent saw %+v; want the deny message", res)
		}
		gov := f.records(target.SessionID, audit.SourceMCPGoverned)
		if len(gov) != 1 || gov[0].Decision != "deny" || gov[0].Tool != "bash" || gov[0].ActionID != results[0].ID && gov[0].ActionID == "" {
			t.Errorf("governed records %+v", gov)
		}
		if len(gov) == 1 && strings.Contains(string(gov[0].Detail), `"input"`) {
			t.Errorf("a call denied for its anomaly verdict records a policy input: %s", gov[0].Detail)
		}
		obs := f.records(target.SessionID, audit.SourceMCPObserved)
		if len(obs) != 1 || !strings.Contains(string(obs[0].Detail), `"confirmation":"deny"`) {
			t.Errorf("observed records %+v", obs)
		}
		if acts, _ := f.approvals.List(t.Context(), tenantID, approval.Filter{}); len(acts) != 0 {
			t.Errorf("approval queue holds %d actions, want none", len(acts))
		}
	})
	t.Run("undecidable", func(t *testing.T) {
		f := newFixture(t, sim.Options{})
		f.scenario(sim.Scenario{Name: "build", Steps: []sim.Step{bash("go build ./...", "ok"), {Type: sim.StepEndTurn}}})
		svc := f.newService("p1", func(s *observe.Service) { s.Policy = nil })
		target := f.startSession(agentSpec{scenario: "build", governed: []string{"bash"}})
		if err := svc.Observe(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		f.send(target.UpstreamID, "go")
		f.waitTurnEnded(target.SessionID, 1)
		results := ofType(f.simEvents(target.UpstreamID), "agent.tool_result")
		if len(results) != 1 || !strings.Contains(string(results[0].JSON), "undecidable") || !strings.Contains(string(results[0].JSON), `"is_error":true`) {
			t.Errorf("without a policy the call must not run; result %s", results[0].JSON)
		}
	})
	t.Run("escalated and approved", func(t *testing.T) {
		f := newFixture(t, sim.Options{})
		f.scenario(sim.Scenario{Name: "test", Steps: []sim.Step{
			bash("go test ./...", "ok  \texample.com/demo\t0.012s"),
			{Type: sim.StepMessage, Text: "Tests pass."},
			{Type: sim.StepEndTurn},
		}})
		svc := f.newService("p1", nil)
		target := f.startSession(agentSpec{scenario: "test", governed: []string{"bash"}, requireApproval: []string{"bash"}})
		if err := svc.Observe(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		f.send(target.UpstreamID, "go")
		var pending []approval.Action
		waitFor(t, "the call to reach the approval queue", func() bool {
			pending, _ = f.approvals.List(t.Context(), tenantID, approval.Filter{Status: approval.StatusPending})
			return len(pending) == 1
		})
		a := pending[0]
		if a.Tool != "bash" || a.SessionID != target.SessionID || !svc.Owns(t.Context(), a) {
			t.Errorf("queued action %+v", a)
		}
		if n := len(ofType(f.simEvents(target.UpstreamID), "agent.tool_result")); n != 0 {
			t.Fatalf("the tool ran before a human decided (%d results)", n)
		}
		approver := vargate.Principal{TenantID: tenantID, Role: vargate.RoleApprover, KeyID: "key-approver"}
		got, err := f.approvals.Approve(t.Context(), approver, a.ID, "looks fine")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != approval.StatusExecuted {
			t.Fatalf("approved action is %s (%+v)", got.Status, got.Failure)
		}
		f.waitTurnEnded(target.SessionID, 1)
		results := ofType(f.simEvents(target.UpstreamID), "agent.tool_result")
		if len(results) != 1 || strings.Contains(string(results[0].JSON), `"is_error":true`) {
			t.Errorf("the approved tool did not run: %v", results)
		}
		gov := f.records(target.SessionID, audit.SourceMCPGoverned)
		if len(gov) != 1 || gov[0].Decision != "require_approval" {
			t.Fatalf("governed records %+v", gov)
		}
		// The record keeps what the policy was asked, for replay: the
		// redacted arguments, the agent's approval patterns.
		var d struct {
			Input  *policy.Input   `json:"input"`
			Policy json.RawMessage `json:"policy"`
		}
		if err := json.Unmarshal(gov[0].Detail, &d); err != nil || d.Input == nil {
			t.Fatalf("governed record detail %s: %v", gov[0].Detail, err)
		}
		if d.Input.Call.Tool != "bash" || string(d.Input.Call.Arguments) != string(gov[0].ArgsRedacted) ||
			d.Input.Call.ArgumentsDigest != gov[0].ArgsDigest || !slices.Equal(d.Input.Agent.RequireHumanApproval, []string{"bash"}) ||
			d.Input.Session.ID != target.SessionID || d.Policy != nil {
			t.Errorf("recorded policy input %s", gov[0].Detail)
		}
		f.checkComplete(t, target)
	})
}

// crashStore makes a gateway "die": after crash, every write fails and
// leases are neither renewed nor released.
type crashStore struct {
	observe.Store
	dead atomicBool
}

func (s *crashStore) crash() { s.dead.Store(true) }

func (s *crashStore) err() error {
	if s.dead.Load() {
		return vargate.Errorf(vargate.KindUnavailable, "crashed")
	}
	return nil
}

type atomicBool = atomic.Bool

func (s *crashStore) Get(ctx context.Context, tenantID, sessionID string) (observe.Session, error) {
	if err := s.err(); err != nil {
		return observe.Session{}, err
	}
	return s.Store.Get(ctx, tenantID, sessionID)
}

func (s *crashStore) Claim(ctx context.Context, owner string, now, until time.Time, limit int) ([]observe.Session, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Claim(ctx, owner, now, until, limit)
}

func (s *crashStore) ClaimSession(ctx context.Context, id, owner string, now, until time.Time) (observe.Session, bool, error) {
	if err := s.err(); err != nil {
		return observe.Session{}, false, err
	}
	return s.Store.ClaimSession(ctx, id, owner, now, until)
}

func (s *crashStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Renew(ctx, owner, ids, until)
}

func (s *crashStore) Release(ctx context.Context, owner, id string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Release(ctx, owner, id)
}

func (s *crashStore) Commit(ctx context.Context, b observe.Batch) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Commit(ctx, b)
}

func (s *crashStore) MarkAudited(ctx context.Context, id string, uses []string, at time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.MarkAudited(ctx, id, uses, at)
}

func (s *crashStore) Finish(ctx context.Context, owner, id, outcome string, at time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Finish(ctx, owner, id, outcome, at)
}
