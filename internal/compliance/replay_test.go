package compliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/tools"
)

// stricter blocks searches about competitors and every e-mail.
var stricter = map[string]string{"stricter.rego": `package vargate.tenant

deny contains "no_competitor_research: searches about competitors are blocked" if {
	input.call.tool == "vargate_web_search"
	contains(lower(input.call.arguments.query), "competitor")
}

deny contains "no_email: e-mail is switched off" if {
	input.call.tool == "vargate_send_email"
}
`}

func replay(t *testing.T, e *env, tenantID, sessionID string, req compliance.ReplayRequest) compliance.ReplayReport {
	t.Helper()
	r, err := e.svc.ReplaySession(t.Context(), tenantID, sessionID, req)
	if err != nil {
		t.Fatal(err)
	}
	return writeReplay(t, r)
}

func writeReplay(t *testing.T, r *compliance.Replay) compliance.ReplayReport {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteJSON(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	var rep compliance.ReplayReport
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatalf("replay report is not JSON: %v\n%s", err, b.Bytes())
	}
	return rep
}

func changedActions(rep compliance.ReplayReport) []string {
	var out []string
	for _, c := range rep.Changes {
		out = append(out, c.ActionID)
	}
	slices.Sort(out)
	return out
}

func TestReplayStricterDraftListsExactlyWhatItWouldBlock(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	e.call(t, s, tools.WebSearch, `{"query":"AI governance frameworks"}`)
	competitor := e.call(t, s, tools.WebSearch, `{"query":"Competitor pricing 2026"}`)
	e.call(t, s, tools.WebSearch, `{"query":"token sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA competitor"}`)
	mail := e.call(t, s, tools.SendEmail, `{"to":"team@example.com","subject":"Summary","body":"Top 3"}`)
	e.call(t, s, tools.WebSearch, `{"query":"weather"}`)
	e.call(t, s, tools.WebSearch, `{"q":"wrong argument"}`) // refused before policy mattered
	if _, err := e.gov.Call(t.Context(), vargate.Principal{TenantID: "t1", Role: vargate.RoleAgent, AgentID: s.AgentID, SessionID: s.ID},
		"vargate_nonexistent", json.RawMessage(`{}`)); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Fatalf("unknown tool: %v", err)
	}
	e.observe(t, s, "bash", `{"command":"ls"}`, nil)

	// Against the active (base) policy nothing changes.
	rep := replay(t, e, "t1", s.ID, compliance.ReplayRequest{})
	if rep.TotalReplayed != 5 || rep.Consistent != 5 || rep.Changed != 0 || len(rep.Changes) != 0 ||
		rep.Skipped != 2 || rep.SkippedReasons[compliance.SkipInvalidArguments] != 1 || rep.SkippedReasons[compliance.SkipNoInput] != 1 {
		t.Errorf("active replay = %+v", rep)
	}
	if rep.Policy != (compliance.ReplayPolicy{Source: compliance.PolicyActive, Version: "base"}) || rep.OriginalPolicyVersions["base"] != 5 {
		t.Errorf("active replay policy = %+v, originals %v", rep.Policy, rep.OriginalPolicyVersions)
	}

	// The stricter draft blocks exactly the competitor search and the
	// e-mail; the secret's search was denied already.
	rep = replay(t, e, "t1", s.ID, compliance.ReplayRequest{Modules: stricter})
	want := []string{competitor.ActionID, mail.ActionID}
	slices.Sort(want)
	if got := changedActions(rep); !slices.Equal(got, want) {
		t.Errorf("changed actions = %v, want %v", got, want)
	}
	if rep.Changed != 2 || rep.Consistent != 3 || rep.Errors != 0 || rep.ReplayedPolicyVersion != compliance.DraftLabel ||
		rep.Transitions["allow→deny"] != 1 || rep.Transitions["require_approval→deny"] != 1 || rep.Policy.Activated {
		t.Errorf("draft replay = %+v", rep)
	}
	for _, c := range rep.Changes {
		if c.Replayed.Decision != policy.Deny || c.Original.DecisionID == "" || c.Original.PolicyVersion != "base" ||
			c.Replayed.PolicyVersion != compliance.DraftLabel || len(c.Replayed.Reasons) == 0 || c.Seq == 0 {
			t.Errorf("change = %+v", c)
		}
	}
	if rep.Changes[0].Seq > rep.Changes[1].Seq {
		t.Errorf("changes out of order: %d, %d", rep.Changes[0].Seq, rep.Changes[1].Seq)
	}
	if rep.Observed.TotalRescored != 1 || rep.Observed.Consistent != 1 {
		t.Errorf("observed = %+v", rep.Observed)
	}

	// The draft was never activated.
	v, err := e.engine.ActiveVersion(t.Context(), "t1")
	if err != nil || v.Label != policy.BaseLabel {
		t.Errorf("active version after a draft replay: %v, %v", v, err)
	}
}

func TestReplayAgainstStoredVersion(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	mail := e.call(t, s, tools.SendEmail, `{"to":"team@example.com","subject":"Summary","body":"Top 3"}`)
	e.call(t, s, tools.WebSearch, `{"query":"weather"}`)
	v, err := policy.Compile(t.Context(), "v3.2", stricter)
	if err != nil {
		t.Fatal(err)
	}
	// v3.2 was active once and rolled back: the engine still knows it.
	e.engine.Activate("t1", v)
	e.engine.Activate("t1", nil)

	rep := replay(t, e, "t1", s.ID, compliance.ReplayRequest{PolicyVersion: "v3.2"})
	if rep.ReplayedPolicyVersion != "v3.2" || rep.Policy.Source != compliance.PolicyVersion || !slices.Equal(changedActions(rep), []string{mail.ActionID}) {
		t.Errorf("replay against v3.2 = %+v", rep)
	}

	for name, req := range map[string]compliance.ReplayRequest{
		"unknown version":                  {PolicyVersion: "v9"},
		"both":                             {PolicyVersion: "v3.2", Modules: stricter},
		"draft that does not compile":      {Modules: map[string]string{"x.rego": "package vargate.tenant\ndeny := true\n"}},
		"draft whose tests fail":           {Modules: map[string]string{"x.rego": "package vargate.tenant\n\ntest_fails if { false }\n"}},
		"draft outside the tenant package": {Modules: map[string]string{"x.rego": "package vargate.base\n"}},
	} {
		if _, err := e.svc.ReplaySession(t.Context(), "t1", s.ID, req); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestReplayTenantTimeRange(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) { testReplayTenant(t, newEnvOn(t, d)) })
	}
}

func testReplayTenant(t *testing.T, e *env) {
	before := e.newSession(t, "t1")
	e.call(t, before, tools.SendEmail, `{"to":"a@example.com","subject":"s","body":"b"}`)
	from := e.tick()
	s1, s2 := e.newSession(t, "t1"), e.newSession(t, "t1")
	m1 := e.call(t, s1, tools.SendEmail, `{"to":"b@example.com","subject":"s","body":"b"}`)
	e.call(t, s2, tools.WebSearch, `{"query":"fine"}`)
	m2 := e.call(t, s2, tools.SendEmail, `{"to":"c@example.com","subject":"s","body":"b"}`)
	e.observe(t, s2, "bash", `{"command":"ls"}`, nil)
	to := e.tick()
	e.call(t, s1, tools.SendEmail, `{"to":"d@example.com","subject":"s","body":"b"}`)
	e.call(t, e.newSession(t, "t2"), tools.SendEmail, `{"to":"e@example.com","subject":"s","body":"b"}`)

	r, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{From: from, To: to,
		ReplayRequest: compliance.ReplayRequest{Modules: stricter}})
	if err != nil {
		t.Fatal(err)
	}
	rep := writeReplay(t, r)
	want := []string{m1.ActionID, m2.ActionID}
	slices.Sort(want)
	if got := changedActions(rep); !slices.Equal(got, want) || rep.TotalReplayed != 3 || rep.Observed.TotalRescored != 1 {
		t.Errorf("tenant replay: changed %v (want %v), %+v", got, want, rep)
	}
	for _, c := range rep.Changes {
		if c.SessionID != s1.ID && c.SessionID != s2.ID {
			t.Errorf("change without its session: %+v", c)
		}
	}
	if rep.Changes[0].Seq > rep.Changes[1].Seq || rep.From == nil || !rep.From.Equal(from) {
		t.Errorf("tenant replay order or range: %+v", rep)
	}
	if _, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{From: to, To: from}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("from after to: %v", err)
	}
	// The default range is the last week.
	r, err = e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{To: to.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep := writeReplay(t, r); rep.TotalReplayed != 5 || rep.Changed != 0 {
		t.Errorf("last week against the active policy: %+v", rep)
	}
}

// TestReplayPages replays more records than a page, in parallel, and
// keeps them in order.
func TestReplayPages(t *testing.T) {
	e := newEnv(t)
	e.svc.PageSize, e.svc.Workers = 7, 3
	s := e.newSession(t, "t1")
	var want []string
	for i := range 40 {
		if i%3 == 0 {
			want = append(want, e.call(t, s, tools.SendEmail, `{"to":"a@example.com","subject":"s","body":"b"}`).ActionID)
		} else {
			e.call(t, s, tools.WebSearch, `{"query":"q"}`)
		}
	}
	rep := replay(t, e, "t1", s.ID, compliance.ReplayRequest{Modules: stricter})
	var got []string
	for i, c := range rep.Changes {
		got = append(got, c.ActionID)
		if i > 0 && c.Seq <= rep.Changes[i-1].Seq {
			t.Errorf("change %d out of order", i)
		}
	}
	if !slices.Equal(got, want) || rep.TotalReplayed != 40 {
		t.Errorf("changed %d of %d, want %d", len(got), rep.TotalReplayed, len(want))
	}
}

// flaky times out every other evaluation, as a starved machine does.
type flaky struct {
	compliance.Policies
	mu sync.Mutex
	n  int
}

func (f *flaky) Evaluate(ctx context.Context, v *policy.Version, in *policy.Input) (policy.Decision, error) {
	f.mu.Lock()
	f.n++
	odd := f.n%2 == 1
	f.mu.Unlock()
	if odd {
		return policy.Decision{Decision: policy.Deny, Reasons: []string{"policy_timeout: policy evaluation did not finish within 100ms"}},
			errors.New("timed out")
	}
	return f.Policies.Evaluate(ctx, v, in)
}

func TestReplayRetriesTimeouts(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	for range 5 {
		e.call(t, s, tools.WebSearch, `{"query":"q"}`)
	}
	f := &flaky{Policies: e.engine}
	e.svc.Policy, e.svc.Workers = f, 1
	rep := replay(t, e, "t1", s.ID, compliance.ReplayRequest{})
	if rep.Errors != 0 || rep.Consistent != 5 || f.n != 10 {
		t.Errorf("replay with timeouts: %+v after %d evaluations", rep, f.n)
	}
}

// A governed built-in tool call (decided by the event consumer) is
// replayed from the input its record keeps. When its anomaly verdict made
// the recorded decision stricter than the policy's, the replay is
// compared with the policy's own part, so the same policy is consistent.
func TestReplayBuiltinConfirmations(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	confirm := func(args, decision string, policyPart map[string]any) audit.Record {
		t.Helper()
		call, findings, err := policy.NewCall("bash", json.RawMessage(args))
		if err != nil {
			t.Fatal(err)
		}
		in := &policy.Input{Tenant: policy.Tenant{ID: "t1"}, Agent: policy.Agent{ID: s.AgentID, AllowedTools: []string{"bash"}},
			Session: policy.Session{ID: s.ID}, Call: call, PII: findings, Time: e.tick()}
		live, err := e.engine.Decide(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		detail := map[string]any{"kind": "tool_confirmation", "event_id": "sevt_1", "input": in}
		if policyPart != nil {
			detail["policy"] = policyPart
		}
		return e.append(t, audit.Record{TenantID: "t1", Source: audit.SourceMCPGoverned, SessionID: s.ID, AgentID: s.AgentID,
			ActionID: vargate.NewID("toolu_", 8), Tool: "bash", Decision: decision, PolicyVersion: live.PolicyVersion, DecisionID: live.DecisionID,
			ArgsDigest: call.ArgumentsDigest, ArgsRedacted: json.RawMessage(args), Actor: "system"}, detail)
	}
	confirm(`{"command":"ls"}`, policy.Allow, nil)
	upgraded := confirm(`{"command":"curl -s https://example.com/x"}`, policy.RequireApproval,
		map[string]any{"decision": policy.Allow, "reasons": []string{}})
	e.append(t, audit.Record{TenantID: "t1", Source: audit.SourceMCPGoverned, SessionID: s.ID, AgentID: s.AgentID,
		ActionID: vargate.NewID("toolu_", 8), Tool: "bash", Decision: policy.Deny, Reasons: []string{"anomaly_credential_access: reads a private key (critical)"},
		Actor: "system"}, map[string]any{"kind": "tool_confirmation", "event_id": "sevt_2"})

	rep := replay(t, e, "t1", s.ID, compliance.ReplayRequest{})
	if rep.TotalReplayed != 2 || rep.Consistent != 2 || rep.Changed != 0 || rep.Skipped != 1 || rep.SkippedReasons[compliance.SkipNoInput] != 1 {
		t.Errorf("active replay = %+v", rep)
	}
	noBash := map[string]string{"nobash.rego": "package vargate.tenant\n\ndeny contains \"no_shell\" if input.call.tool == \"bash\"\n"}
	rep = replay(t, e, "t1", s.ID, compliance.ReplayRequest{Modules: noBash})
	if rep.Changed != 2 || rep.Transitions["allow→deny"] != 2 {
		t.Errorf("draft replay = %+v", rep)
	}
	for _, c := range rep.Changes {
		if c.ActionID == upgraded.ActionID && (c.Original.Decision != policy.Allow || c.Original.DecisionID != upgraded.DecisionID) {
			t.Errorf("the upgraded call's original = %+v, want the policy's own allow", c.Original)
		}
	}
}
