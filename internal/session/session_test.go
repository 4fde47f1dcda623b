package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
)

// TestEndToEnd drives the guide's flow against the simulator through the
// SDK: config → session → the scripted agent calls the MCP server with its
// per-session token → counters move → awaiting approval → the outcome is
// sent → completed.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	cfg := e.newAgent(t, agent.Params{GovernedBuiltinTools: ptr([]string{"write"}),
		GovernanceProfile: &agent.ProfileParams{AllowedDomains: ptr([]string{"*.example.com"})}})

	s, err := e.create(t, e.svc, cfg.ID, "Research the EU AI Act and email the team.")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ID, "vs-") || len(s.ID) != len("vs-")+16 || !strings.HasPrefix(s.AnthropicSessionID, "sesn_") ||
		s.MCPServerURL != e.mcp.URL || s.TenantID != e.tenant || s.AgentID != cfg.ID {
		t.Errorf("created session = %+v", s)
	}
	if s.Status != session.StatusActive && s.Status != session.StatusAwaitingApproval {
		t.Errorf("status right after creation = %s", s.Status)
	}

	// The default scenario searches, runs bash, then queues an e-mail and
	// ends its turn: one action is pending.
	s = e.waitStatus(t, e.svc, s.ID, session.StatusAwaitingApproval)
	_, c, err := e.svc.Status(ctx, e.tenant, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (session.Counters{GovernedCalls: 2, ObservedCalls: 1, Pending: 1}); c != want {
		t.Errorf("counters = %+v, want %+v", c, want)
	}

	// The agent called the MCP server with its session token, never the
	// tenant's key, and each call resolved to the session's principal.
	calls := e.mcp.Calls()
	if len(calls) != 2 {
		t.Fatalf("MCP calls = %+v", calls)
	}
	for _, cl := range calls {
		want := vargate.Principal{TenantID: e.tenant, Role: vargate.RoleAgent, AgentID: cfg.ID, SessionID: s.ID, KeyID: s.TokenID}
		if cl.Principal != want || !strings.HasPrefix(cl.Token, auth.SessionTokenPrefix) {
			t.Errorf("call %s by %+v with %q…", cl.Tool, cl.Principal, cl.Token[:4])
		}
	}
	cfgFor, err := e.svc.ConfigFor(ctx, calls[0].Principal)
	if err != nil || cfgFor.ID != cfg.ID || cfgFor.Version != 1 {
		t.Errorf("ConfigFor = %v v%d, %v", cfgFor.ID, cfgFor.Version, err)
	}

	// What Anthropic got: the governance prompt whose hash we recorded,
	// the gateway's MCP toolset always_allow, write always_ask, limited
	// networking with the MCP servers allowed, a vault credential bound to
	// exactly the session's MCP URL.
	cl := e.client()
	up, err := cl.Beta.Sessions.Get(ctx, s.AnthropicSessionID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got := session.HashPrompt(up.Agent.System); got != s.SystemPromptHash {
		t.Errorf("prompt hash = %s, upstream prompt hashes to %s", s.SystemPromptHash, got)
	}
	if !strings.Contains(up.Agent.System, "Governance (injected by Vargate)") || !strings.Contains(up.Agent.System, s.ID) {
		t.Errorf("upstream system prompt lacks the governance text:\n%s", up.Agent.System)
	}
	raw := up.RawJSON()
	for _, want := range []string{`"mcp_server_name":"vargate"`, `"always_allow"`, `"always_ask"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("upstream agent lacks %s: %s", want, raw)
		}
	}
	envr, err := cl.Beta.Environments.Get(ctx, up.EnvironmentID, anthropic.BetaEnvironmentGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if n := envr.Config.Networking; n.Type != "limited" || !n.AllowMCPServers || !slices.Equal(n.AllowedHosts, []string{"*.example.com"}) {
		t.Errorf("environment networking = %s", envr.Config.RawJSON())
	}
	creds, err := cl.Beta.Vaults.Credentials.List(ctx, up.VaultIDs[0], anthropic.BetaVaultCredentialListParams{})
	if err != nil || len(creds.Data) != 1 || creds.Data[0].Auth.MCPServerURL != e.mcp.URL || creds.Data[0].Auth.Type != "static_bearer" {
		t.Errorf("vault credentials = %+v, %v", creds, err)
	}

	// The creation is in the audit chain with the prompt and its hash.
	trail, err := e.svc.AuditTrail(ctx, e.tenant, s.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) == 0 || trail[0].Decision != "session.created" || trail[0].Source != audit.SourceControlPlane {
		t.Fatalf("first record = %+v", trail[0])
	}
	var created struct {
		Prompt string `json:"system_prompt"`
		Hash   string `json:"system_prompt_hash"`
	}
	if err := json.Unmarshal(trail[0].Detail, &created); err != nil || created.Hash != s.SystemPromptHash || session.HashPrompt(created.Prompt) != created.Hash {
		t.Errorf("created record: hash %s, prompt hashes to %s, %v", created.Hash, session.HashPrompt(created.Prompt), err)
	}
	for i := 1; i < len(trail); i++ {
		if trail[i].Seq <= trail[i-1].Seq {
			t.Errorf("trail not chronological at %d", i)
		}
	}

	// A human approves the e-mail; the outcome goes to the agent, which
	// answers and completes.
	e.pending.set(s.ID, 0)
	settled := approval.Action{ID: "act-email", TenantID: e.tenant, SessionID: s.ID, Tool: "vargate_send_email",
		Status: approval.StatusExecuted, Result: json.RawMessage(`{"content":[{"type":"text","text":"sent to 3 recipients"}]}`)}
	if err := e.svc.ActionSettled(ctx, settled); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ActionSettled(ctx, settled); err != nil {
		t.Fatal(err) // delivered twice, sent once (checked below)
	}
	s = e.waitStatus(t, e.svc, s.ID, session.StatusCompleted)
	evs, err := e.sim.Events(s.AnthropicSessionID)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes int
	for _, ev := range evs {
		if ev.Type == "user.message" && strings.Contains(string(ev.JSON), "was approved and executed") {
			outcomes++
			if !strings.Contains(string(ev.JSON), "sent to 3 recipients") {
				t.Errorf("outcome message lacks the result: %s", ev.JSON)
			}
		}
	}
	if outcomes != 1 {
		t.Errorf("outcome messages sent = %d, want 1", outcomes)
	}

	// A completed session's token no longer works.
	if _, err := e.svc.AuthenticateSessionToken(ctx, auth.HashToken(calls[0].Token)); !vargate.IsKind(err, vargate.KindUnauthorized) {
		t.Errorf("token of a completed session: %v", err)
	}

	// A follow-up message makes it active again, then completed.
	if _, err := e.svc.SendMessage(ctx, e.tenant, s.ID, "Thanks, anything else?", "key-admin"); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, e.svc, s.ID, session.StatusCompleted)
	events := decisions(t, e, s.ID)
	for _, want := range []string{"session.created", "session.awaiting_approval", "session.approval_outcome_sent", "session.completed", "session.message"} {
		if !slices.Contains(events, want) {
			t.Errorf("trail lacks %s: %v", want, events)
		}
	}
}

func decisions(t *testing.T, e *env, id string) []string {
	t.Helper()
	trail, err := e.svc.AuditTrail(t.Context(), e.tenant, id, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range trail {
		out = append(out, r.Decision)
	}
	return out
}

// TestUpstreamFailureAtEachStep fails each upstream step once: the
// creation fails with 502/503 naming the step and Anthropic's request ID,
// nothing is left upstream, and no budget is held.
func TestUpstreamFailureAtEachStep(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	one := 1
	if _, err := e.svc.SaveSettings(ctx, session.Settings{TenantID: e.tenant, MaxConcurrent: &one}, "key-admin"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		step, method, path string
		status             int
		typ                string
		kind               vargate.Kind
	}{
		{"environment", "POST", "/v1/environments", 500, "api_error", vargate.KindUnavailable},
		{"agent", "POST", "/v1/agents", 400, "invalid_request_error", vargate.KindUpstream},
		{"vault", "POST", "/v1/vaults", 529, "overloaded_error", vargate.KindUnavailable},
		{"vault", "POST", "/v1/vaults/*/credentials", 500, "api_error", vargate.KindUnavailable},
		{"session", "POST", "/v1/sessions", 429, "rate_limit_error", vargate.KindUnavailable},
		{"message", "POST", "/v1/sessions/*/events", 403, "permission_error", vargate.KindUpstream},
	}
	for _, st := range steps {
		t.Run(st.step+" "+st.path, func(t *testing.T) {
			cfg := e.newAgent(t, agent.Params{}) // a fresh config: environment and agent are made anew
			before := e.upstreamSessions()
			vaultsBefore := e.liveVaults(t)
			reqID := e.faults.failNext(st.method, st.path, st.status, st.typ)
			_, err := e.create(t, e.svc, cfg.ID, "scenario:quick hello")
			if !e.faults.hit() {
				t.Fatalf("the fault on %s %s never fired", st.method, st.path)
			}
			e.faults.clear()
			var ve *vargate.Error
			if !errors.As(err, &ve) || ve.Kind != st.kind {
				t.Fatalf("err = %v, want kind %s", err, st.kind)
			}
			if !strings.Contains(ve.Message, "step "+st.step) || !strings.Contains(ve.Message, reqID) {
				t.Errorf("message %q does not name step %s and request %s", ve.Message, st.step, reqID)
			}
			// Nothing half-made upstream: sessions deleted, vaults deleted.
			if after := e.upstreamSessions(); len(after) != len(before) {
				t.Errorf("upstream sessions %d → %d", len(before), len(after))
			}
			if after := e.liveVaults(t); len(after) != len(vaultsBefore) {
				t.Errorf("upstream vaults %d → %d", len(vaultsBefore), len(after))
			}
			// Nothing counting against budgets: with a limit of one
			// concurrent session, the next creation succeeds…
			list, _ := e.svc.List(ctx, e.tenant, session.Filter{Status: session.StatusActive})
			for _, s := range list {
				t.Errorf("left over session %s", s.ID)
			}
			s, err := e.create(t, e.svc, cfg.ID, "scenario:quick hello")
			if err != nil {
				t.Fatalf("creation after the failure: %v", err)
			}
			e.waitStatus(t, e.svc, s.ID, session.StatusCompleted)
			// …and the failed attempt is audited with its step.
			trail, _ := sqlstore.NewAuditStore(e.db).List(ctx, e.tenant, audit.Filter{Decision: "session.create_failed", Limit: 1})
			if len(trail) != 1 || !strings.Contains(string(trail[0].Detail), `"step":"`+st.step+`"`) {
				t.Errorf("failure record = %+v", trail)
			}
		})
	}
}

// TestBudgetRace creates 200 sessions at once against a limit of 10.
func TestBudgetRace(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			cfg := e.newAgent(t, agent.Params{MaxDailySessions: ptr(1000)})
			var ok, limited atomic.Int32
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			start := make(chan struct{})
			for range 200 {
				wg.Go(func() {
					<-start
					_, err := e.create(t, e.svc, cfg.ID, "scenario:hold the slot")
					switch {
					case err == nil:
						ok.Add(1)
					case vargate.IsKind(err, vargate.KindRateLimited):
						limited.Add(1)
					default:
						errs <- err
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("create: %v", err)
			}
			if ok.Load() != 10 || limited.Load() != 190 {
				t.Fatalf("created %d, refused %d; want exactly 10 and 190", ok.Load(), limited.Load())
			}
			if n := len(e.upstreamSessions()); n != 10 {
				t.Errorf("upstream sessions = %d, want 10", n)
			}
		})
	}
}

// TestDailyBudgets checks max_daily_sessions per agent and the tenant's
// daily limit.
func TestDailyBudgets(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	cfg := e.newAgent(t, agent.Params{MaxDailySessions: ptr(2)})
	for range 2 {
		s, err := e.create(t, e.svc, cfg.ID, "scenario:quick hi")
		if err != nil {
			t.Fatal(err)
		}
		e.waitStatus(t, e.svc, s.ID, session.StatusCompleted)
	}
	_, err := e.create(t, e.svc, cfg.ID, "scenario:quick hi")
	if !vargate.IsKind(err, vargate.KindRateLimited) || !strings.Contains(err.Error(), "max_daily_sessions") {
		t.Fatalf("third session of the day: %v", err)
	}
	e.clock.Advance(24 * time.Hour)
	if _, err := e.create(t, e.svc, cfg.ID, "scenario:quick hi"); err != nil {
		t.Errorf("next day: %v", err)
	}
	three := 3
	if _, err := e.svc.SaveSettings(ctx, session.Settings{TenantID: e.tenant, MaxDaily: &three}, "key-admin"); err != nil {
		t.Fatal(err)
	}
	other := e.newAgent(t, agent.Params{})
	if _, err := e.create(t, e.svc, other.ID, "scenario:quick hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.create(t, e.svc, other.ID, "scenario:quick hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.create(t, e.svc, other.ID, "scenario:quick hi"); !vargate.IsKind(err, vargate.KindRateLimited) {
		t.Errorf("fourth session of the tenant today with a limit of 3: %v", err)
	}
}

// TestExpiry runs a session past max_session_hours on a test clock: the
// sweeper — here of a gateway started after the session was created —
// interrupts it upstream and marks it expired; its token stops working.
func TestExpiry(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	cfg := e.newAgent(t, agent.Params{MaxSessionHours: ptr(0.1)})
	s, err := e.create(t, e.svc, cfg.ID, "scenario:slow long task")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline expired %d, %v", n, err)
	}
	// The gateway restarts; the deadline is in the database.
	e.stop(t)
	e.svc = e.newService()
	e.clock.Advance(7 * time.Minute)
	if n, err := e.svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after the deadline expired %d, %v", n, err)
	}
	got := e.waitStatus(t, e.svc, s.ID, session.StatusExpired)
	if got.EndedAt == nil || !strings.Contains(got.EndReason, "max_session_hours") {
		t.Errorf("expired session = %+v", got)
	}
	// Upstream: interrupted (idle again), vault gone.
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := e.sim.WaitFor(wctx, s.AnthropicSessionID, func(info sim.SessionInfo, evs []sim.Event) bool {
		return slices.ContainsFunc(evs, func(ev sim.Event) bool { return ev.Type == "user.interrupt" }) && info.Status == sim.StatusIdle
	}); err != nil {
		t.Errorf("upstream session not interrupted: %v", err)
	}
	if vs := e.liveVaults(t); slices.Contains(vs, got.VaultID) {
		t.Errorf("vault %s of the expired session still exists", got.VaultID)
	}
	if _, err := e.svc.AuthenticateSessionToken(ctx, got.TokenHash); !vargate.IsKind(err, vargate.KindUnauthorized) {
		t.Errorf("token of an expired session: %v", err)
	}
	if _, err := e.svc.SendMessage(ctx, e.tenant, s.ID, "still there?", "key-admin"); !vargate.IsKind(err, vargate.KindConflict) {
		t.Errorf("message to an expired session: %v", err)
	}
	if n, _ := e.svc.Sweep(ctx); n != 0 {
		t.Errorf("second sweep expired %d", n)
	}
}

// TestRestartResumes stops the gateway during a session; a new gateway
// re-attaches and the session completes, whether its turn ends after the
// restart (seen on the stream) or while no gateway ran (found in the
// event history).
func TestRestartResumes(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	cfg := e.newAgent(t, agent.Params{})

	during, err := e.create(t, e.svc, cfg.ID, "scenario:slow long task")
	if err != nil {
		t.Fatal(err)
	}
	quick, err := e.create(t, e.svc, cfg.ID, "scenario:medium another")
	if err != nil {
		t.Fatal(err)
	}
	e.stop(t) // the gateway stops: nobody follows the streams
	// quick's turn ends while no gateway runs.
	wctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := e.sim.WaitIdle(wctx, quick.AnthropicSessionID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.Get(ctx, e.tenant, quick.ID); got.Status != session.StatusActive {
		t.Fatalf("status with no gateway = %s, want still active", got.Status)
	}

	e.svc = e.newService()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	e.waitStatus(t, e.svc, quick.ID, session.StatusCompleted)
	if got, _ := e.svc.Get(ctx, e.tenant, during.ID); got.Status != session.StatusActive {
		t.Fatalf("the slow session is %s before its turn ended; the test needs it still running", got.Status)
	}
	e.waitStatus(t, e.svc, during.ID, session.StatusCompleted)
	// The MCP call made after the restart carried a still-valid token.
	var after int
	for _, c := range e.mcp.Calls() {
		if c.Principal.SessionID == during.ID {
			after++
		}
	}
	if after != 1 {
		t.Errorf("MCP calls of the resumed session = %d, want 1", after)
	}
}

// TestDelegation records a sub-agent's chain and refuses one too deep.
func TestDelegation(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	root := e.newAgent(t, agent.Params{Name: ptr("root"), MaxDelegationDepth: ptr(1)})
	child := e.newAgent(t, agent.Params{Name: ptr("child"), ParentAgentID: ptr(root.ID)})
	parent, err := e.create(t, e.svc, root.ID, "scenario:slow coordinate")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.svc.Create(ctx, session.CreateRequest{TenantID: e.tenant, AgentID: child.ID, UserMessage: "scenario:quick help",
		ParentSessionID: parent.ID, Actor: "key-admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sub.DelegationChain, []string{root.ID, child.ID}) || sub.DelegationDepth() != 1 || sub.ParentSessionID != parent.ID {
		t.Errorf("sub-session chain = %v (depth %d), parent %q", sub.DelegationChain, sub.DelegationDepth(), sub.ParentSessionID)
	}
	// The parent's session is not a session of the root's parent.
	if _, err := e.svc.Create(ctx, session.CreateRequest{TenantID: e.tenant, AgentID: root.ID, UserMessage: "x",
		ParentSessionID: parent.ID, Actor: "key-admin"}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("parent session of the wrong agent: %v", err)
	}
	// Tightening the root refuses sessions of the now too deep child.
	if _, err := e.agents.Update(ctx, e.tenant, child.ID, "key-admin", agent.Params{}); err != nil {
		t.Fatal(err)
	}
	grand := e.newAgent(t, agent.Params{Name: ptr("grandchild")})
	if _, err := e.agents.Update(ctx, e.tenant, grand.ID, "key-admin", agent.Params{ParentAgentID: ptr(child.ID)}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("grandchild two below a root allowing one: %v", err)
	}
}

// TestCreateValidation covers the refusals before anything is reserved.
func TestCreateValidation(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	cfg := e.newAgent(t, agent.Params{})
	tests := []struct {
		name string
		req  session.CreateRequest
		kind vargate.Kind
	}{
		{"no agent", session.CreateRequest{UserMessage: "hi"}, vargate.KindInvalid},
		{"unknown agent", session.CreateRequest{AgentID: "agent-000000000000", UserMessage: "hi"}, vargate.KindInvalid},
		{"no message", session.CreateRequest{AgentID: cfg.ID}, vargate.KindInvalid},
		{"reserved metadata", session.CreateRequest{AgentID: cfg.ID, UserMessage: "hi", Metadata: map[string]string{"vargate_session_id": "x"}}, vargate.KindInvalid},
	}
	for _, tt := range tests {
		tt.req.TenantID, tt.req.Actor = e.tenant, "key-admin"
		if _, err := e.svc.Create(ctx, tt.req); !vargate.IsKind(err, tt.kind) {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.kind)
		}
	}
	if _, err := e.agents.Archive(ctx, e.tenant, cfg.ID, "key-admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.create(t, e.svc, cfg.ID, "hi"); !vargate.IsKind(err, vargate.KindConflict) {
		t.Errorf("archived agent: %v", err)
	}
	if n := len(e.upstreamSessions()); n != 0 {
		t.Errorf("upstream sessions after refusals = %d", n)
	}
}

// denyTools is a policy that denies the listed tools and fails on "boom".
type denyTools map[string]bool

func (d denyTools) Decide(_ context.Context, in *policy.Input) (policy.Decision, error) {
	if in.Call.Tool == "boom" {
		return policy.Decision{Decision: policy.Deny, Reasons: []string{"policy_error: x"}}, errors.New("evaluation failed")
	}
	if d[in.Call.Tool] {
		return policy.Decision{Decision: policy.Deny, Reasons: []string{"tenant_rule: no " + in.Call.Tool}, PolicyVersion: "v1", DecisionID: "dec-1"}, nil
	}
	return policy.Decision{Decision: policy.Allow, Reasons: []string{}, PolicyVersion: "v1", DecisionID: "dec-2"}, nil
}

// TestPolicyCheck refuses a configuration the tenant's policy leaves no
// tool to, and fails closed when the policy cannot be evaluated.
func TestPolicyCheck(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	e.svc.Policy = denyTools{"vargate_web_search": true, "vargate_send_email": true}
	cfg := e.newAgent(t, agent.Params{})
	_, err := e.create(t, e.svc, cfg.ID, "scenario:quick hi")
	if !vargate.IsKind(err, vargate.KindForbidden) || !strings.Contains(err.Error(), "tenant_rule: no vargate_send_email") {
		t.Fatalf("every tool denied: %v", err)
	}
	boom := e.newAgent(t, agent.Params{AllowedTools: ptr([]string{"vargate_web_search", "boom"})})
	if _, err := e.create(t, e.svc, boom.ID, "scenario:quick hi"); !vargate.IsKind(err, vargate.KindUnavailable) {
		t.Errorf("policy error: %v, want unavailable (fail closed)", err)
	}
	if n := len(e.upstreamSessions()); n != 0 {
		t.Errorf("refused configurations made %d upstream sessions", n)
	}

	e.svc.Policy = denyTools{"vargate_send_email": true}
	s, err := e.create(t, e.svc, cfg.ID, "scenario:quick hi")
	if err != nil {
		t.Fatal(err)
	}
	trail, _ := e.svc.AuditTrail(ctx, e.tenant, s.ID, 0, 1)
	var created struct {
		Checks []struct {
			Tool, Decision string
		} `json:"policy_check"`
	}
	if err := json.Unmarshal(trail[0].Detail, &created); err != nil || len(created.Checks) != 2 ||
		created.Checks[0].Decision != "allow" || created.Checks[1].Decision != "deny" {
		t.Errorf("recorded policy check = %+v, %v", created.Checks, err)
	}
}

// A gateway that crashed in the middle of a creation leaves a reservation
// whose vault and upstream session exist (they are recorded as they are
// made); the sweeper of the next gateway deletes both upstream and
// releases the budget slot.
func TestSweepCleansAbandonedCreation(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	ctx := t.Context()
	cfg := e.newAgent(t, agent.Params{})
	c := e.client()
	ag, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "crashed", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "crashed"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "crashed"})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)}, EnvironmentID: env.ID, VaultIDs: []string{v.ID}})
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewSessionStore(e.db)
	now := e.clock.Now()
	s := session.Session{ID: "vs-crashed", TenantID: e.tenant, AgentID: cfg.ID, AgentVersion: cfg.Version, Status: session.StatusCreating,
		TokenID: "vst-crashed", TokenHash: []byte("hash"), MCPServerURL: e.mcp.URL, DelegationChain: []string{cfg.ID},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := store.Reserve(ctx, s, session.Budget{MaxConcurrent: 10, DayStart: now.Truncate(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.VaultID, s.AnthropicSessionID = v.ID, up.ID
	if err := store.Prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, e.tenant, s.ID); err != nil {
		t.Fatalf("a reservation younger than twice the creation timeout was released: %v", err)
	}
	e.clock.Advance(2*session.DefaultCreateTimeout + time.Second)
	svc := e.newService() // the next gateway
	if _, err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, e.tenant, s.ID); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("abandoned reservation: %v, want released", err)
	}
	if slices.Contains(e.liveVaults(t), v.ID) {
		t.Errorf("the abandoned creation's vault %s still exists", v.ID)
	}
	if slices.Contains(e.upstreamSessions(), up.ID) {
		t.Errorf("the abandoned creation's upstream session %s still exists", up.ID)
	}
}

// TestNoObserverFailsClosed: a Service without an event consumer refuses
// to create sessions (nothing the agent did would be recorded) and
// leaves nothing upstream.
func TestNoObserverFailsClosed(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	cfg := e.newAgent(t, agent.Params{})
	e.svc.Observer = nil
	before := e.upstreamSessions()
	_, err := e.create(t, e.svc, cfg.ID, "scenario:quick hello")
	if !vargate.IsKind(err, vargate.KindUnavailable) {
		t.Fatalf("create without an observer: %v, want kind unavailable", err)
	}
	if after := e.upstreamSessions(); len(after) != len(before) {
		t.Errorf("upstream sessions %d → %d", len(before), len(after))
	}
	list, _ := e.svc.List(t.Context(), e.tenant, session.Filter{Status: session.StatusActive})
	if len(list) != 0 {
		t.Errorf("sessions left active: %d", len(list))
	}
}
