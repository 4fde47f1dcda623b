package govern_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

type fakeAudit struct {
	mu   sync.Mutex
	recs []audit.Record
	fail error
}

func (f *fakeAudit) Append(_ context.Context, r audit.Record) (audit.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return audit.Record{}, f.fail
	}
	if err := r.Normalize(); err != nil {
		return audit.Record{}, err
	}
	r.Seq = int64(len(f.recs) + 1)
	f.recs = append(f.recs, r)
	return r, nil
}

// governed returns the call's mcp_governed record: the first of the
// records, which is committed before anything runs.
func (f *fakeAudit) governed(t *testing.T) audit.Record {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.recs {
		if r.Source == audit.SourceMCPGoverned {
			return r
		}
	}
	t.Fatal("no mcp_governed record")
	return audit.Record{}
}

func (f *fakeAudit) last(t *testing.T) audit.Record {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recs) == 0 {
		t.Fatal("no audit record")
	}
	return f.recs[len(f.recs)-1]
}

type fakeConfigs struct {
	mu    sync.Mutex
	cfg   agent.Config
	err   error
	calls int
	// live is CheckLive's answer (govern.Liveness).
	live string
}

func (f *fakeConfigs) CheckLive(context.Context, vargate.Principal, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live, nil
}

func (f *fakeConfigs) ConfigFor(_ context.Context, p vargate.Principal) (agent.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return agent.Config{}, f.err
	}
	return f.cfg, nil
}

type fakeQueue struct {
	reqs    []approval.Request
	actions map[string]approval.Action
}

func (q *fakeQueue) Enqueue(_ context.Context, r approval.Request) (approval.Action, error) {
	q.reqs = append(q.reqs, r)
	a := approval.Action{ID: r.ID, TenantID: r.TenantID, AgentID: r.AgentID, SessionID: r.SessionID, Tool: r.Tool, Status: approval.StatusPending}
	if q.actions == nil {
		q.actions = map[string]approval.Action{}
	}
	q.actions[a.ID] = a
	return a, nil
}

func (q *fakeQueue) StatusFor(_ context.Context, p vargate.Principal, id string) (approval.Action, error) {
	a, ok := q.actions[id]
	if !ok || a.TenantID != p.TenantID {
		return approval.Action{}, vargate.NotFound("action")
	}
	return a, nil // no scoping here: the governor must check on its own
}

type fakeEvents struct{ names []string }

func (f *fakeEvents) Emit(_ context.Context, _, event string, _ any) error {
	f.names = append(f.names, event)
	return nil
}

// recorder is a connector that records its calls.
type recorder struct {
	calls []*tools.Call
	err   error
	// hook, when set, answers the call.
	hook tools.Connector
}

func (r *recorder) Call(ctx context.Context, c *tools.Call) (tools.Result, error) {
	r.calls = append(r.calls, c)
	if r.hook != nil {
		return r.hook.Call(ctx, c)
	}
	if r.err != nil {
		return tools.Result{}, r.err
	}
	return tools.Result{Structured: json.RawMessage(`{"done":true}`)}, nil
}

// checked is a recorder with a real connector's checks.
type checked struct {
	*recorder
	v tools.Validator
}

func (c checked) Validate(call *tools.Call) error { return c.v.Validate(call) }

type fixture struct {
	gov     *govern.Governor
	audit   *fakeAudit
	configs *fakeConfigs
	queue   *fakeQueue
	events  *fakeEvents
	search  *recorder
	email   *recorder
	p       vargate.Principal
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	engine, err := policy.NewEngine(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The machines tests run on are shared: a fail-closed timeout is not
	// what these tests are about.
	engine.Timeout = 10 * time.Second
	f := &fixture{audit: &fakeAudit{}, queue: &fakeQueue{}, events: &fakeEvents{}, search: &recorder{}, email: &recorder{}}
	f.configs = &fakeConfigs{cfg: agent.Config{
		ID: "agent-a1", TenantID: "tenant-1", Version: 3,
		AllowedTools:         []string{tools.WebSearch, tools.SendEmail},
		RequireHumanApproval: []string{"vargate_send_*"},
		MaxDelegationDepth:   1,
		GovernanceProfile:    agent.GovernanceProfile{RiskLevel: "standard", PIIDetection: true},
	}}
	search := tools.NewWebSearchTool(&tools.WebSearchConnector{})
	search.Connector = f.search
	email := tools.NewSendEmailTool(&tools.EmailConnector{})
	email.Connector = checked{f.email, &tools.EmailConnector{}}
	http := tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{})
	cat := tools.NewCatalog(search, email, http)
	f.gov = govern.New(cat, f.configs, engine, f.audit, nil)
	f.gov.Queue, f.gov.Events = f.queue, f.events
	cat.Add(f.gov.ApprovalStatusTool())
	f.p = vargate.Principal{TenantID: "tenant-1", Role: vargate.RoleAgent, AgentID: "agent-a1", SessionID: "vs-1", KeyID: "tok-1"}
	return f
}

type detail struct {
	Outcome string          `json:"outcome"`
	Latency map[string]int  `json:"latency_us"`
	Input   *policy.Input   `json:"input"`
	Raw     json.RawMessage `json:"-"`
}

func readDetail(t *testing.T, r audit.Record) detail {
	t.Helper()
	var d detail
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatalf("detail %s: %v", r.Detail, err)
	}
	return d
}

func TestCallOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		tool       string
		args       string
		status     govern.Status
		decision   string
		reason     string
		ran        bool
		webhook    bool
		queued     bool
		notInTrail string
	}{
		{name: "allow", tool: tools.WebSearch, args: `{"query":"governance"}`, status: govern.Executed, decision: "allow", ran: true},
		{name: "deny: secret", tool: tools.WebSearch, args: `{"query":"sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, status: govern.Denied, decision: "deny", reason: "secret_in_arguments", webhook: true, notInTrail: "sk-ant-api03"},
		{name: "deny: card in a search", tool: tools.WebSearch, args: `{"query":"owner of 4111 1111 1111 1111"}`, status: govern.Denied, decision: "deny", reason: "sensitive_data_in_search", webhook: true, notInTrail: "4111 1111"},
		{name: "deny: not allowed", tool: tools.HTTPRequest, args: `{"method":"GET","url":"https://x.example/"}`, status: govern.Denied, decision: "deny", reason: "tool_not_allowed", webhook: true},
		{name: "allowed, but the connector refuses", tool: tools.SendEmail, args: `{"to":"not an address","subject":"s","body":"b"}`, status: govern.Invalid, decision: "deny", reason: "invalid_arguments"},
		{name: "require approval", tool: tools.SendEmail, args: `{"to":"bob@example.com","subject":"hi","body":"hello"}`, status: govern.Pending, decision: "require_approval", reason: "human_approval_required", queued: true},
		{name: "invalid arguments", tool: tools.WebSearch, args: `{"q":"x"}`, status: govern.Invalid, decision: "deny", reason: "invalid_arguments"},
		{name: "arguments not JSON", tool: tools.WebSearch, args: `{"q":`, status: govern.Invalid, decision: "deny", reason: "invalid_arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			out, err := f.gov.Call(t.Context(), f.p, tt.tool, json.RawMessage(tt.args))
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tt.status {
				t.Fatalf("status = %s (%s %v), want %s", out.Status, out.Message, out.Decision.Reasons, tt.status)
			}
			rec := f.audit.governed(t)
			want := 1
			if tt.ran {
				want = 2 // the governed record, then the outcome
			}
			if len(f.audit.recs) != want {
				t.Errorf("%d audit records, want %d", len(f.audit.recs), want)
			}
			fin := f.audit.last(t)
			if rec.Source != audit.SourceMCPGoverned || rec.Decision != tt.decision || rec.ActionID != out.ActionID ||
				rec.TenantID != "tenant-1" || rec.AgentID != "agent-a1" || rec.SessionID != "vs-1" || rec.Actor != "tok-1" || rec.ArgsDigest == "" {
				t.Errorf("record = %+v", rec)
			}
			if tt.reason != "" && !strings.HasPrefix(strings.Join(rec.Reasons, ","), tt.reason) {
				t.Errorf("reasons = %v, want %s…", rec.Reasons, tt.reason)
			}
			if ran := len(f.search.calls)+len(f.email.calls) > 0; ran != tt.ran {
				t.Errorf("connector ran = %v, want %v", ran, tt.ran)
			}
			if tt.ran && (fin.Source != audit.SourceMCPOutcome || fin.Outcome != tt.status || fin.ActionID != out.ActionID ||
				fin.ResultDigest == "" || f.search.calls[0].ActionID != out.ActionID) {
				t.Errorf("executed call: outcome record %+v, connector action %q", fin, f.search.calls[0].ActionID)
			}
			if got := len(f.events.names) > 0; got != tt.webhook {
				t.Errorf("webhooks = %v", f.events.names)
			}
			if tt.queued {
				if len(f.queue.reqs) != 1 || f.queue.reqs[0].ID != out.ActionID || string(f.queue.reqs[0].Args) != tt.args ||
					f.queue.reqs[0].DecisionID != rec.DecisionID {
					t.Errorf("queue requests = %+v", f.queue.reqs)
				}
			}
			d := readDetail(t, rec)
			wantOutcome := tt.status
			if tt.ran {
				wantOutcome = audit.OutcomeExecuting
			}
			if rec.Outcome != wantOutcome {
				t.Errorf("record outcome = %s, want %s", rec.Outcome, wantOutcome)
			}
			if tt.decision != "deny" || tt.reason != "invalid_arguments" {
				if d.Input == nil || d.Input.Agent.ID != "agent-a1" || !slices.Contains(d.Input.Agent.AllowedTools, tools.ApprovalStatus) {
					t.Errorf("detail input = %+v, want the policy input", d.Input)
				}
			}
			if tt.notInTrail != "" && (strings.Contains(string(rec.Detail), tt.notInTrail) || strings.Contains(string(rec.ArgsRedacted), tt.notInTrail)) {
				t.Errorf("%q reached the audit record: %s %s", tt.notInTrail, rec.ArgsRedacted, rec.Detail)
			}
		})
	}
}

func TestCallFailures(t *testing.T) {
	t.Run("connector error is a failed outcome with a safe message", func(t *testing.T) {
		f := newFixture(t)
		f.search.err = errors.New("dial tcp 10.0.0.7:443: secret internal detail")
		out, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != govern.Failed || strings.Contains(out.Message, "10.0.0.7") {
			t.Errorf("outcome = %s %q", out.Status, out.Message)
		}
		if rec := f.audit.governed(t); rec.Decision != "allow" || rec.Outcome != audit.OutcomeExecuting {
			t.Errorf("governed record = %+v", rec)
		}
		if rec := f.audit.last(t); rec.Source != audit.SourceMCPOutcome || rec.ResultDigest != "" || rec.Outcome != govern.Failed {
			t.Errorf("outcome record = %+v", rec)
		}
	})
	t.Run("configuration gone is a denial on the record", func(t *testing.T) {
		f := newFixture(t)
		f.configs.err = vargate.NotFound("agent agent-a1")
		out, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`))
		if err != nil || out.Status != govern.Denied || !strings.HasPrefix(out.Decision.Reasons[0], "agent_unavailable") {
			t.Errorf("outcome = %+v, %v", out, err)
		}
	})
	t.Run("store failure is an error", func(t *testing.T) {
		f := newFixture(t)
		f.configs.err = errors.New("database is down")
		if _, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`)); err == nil {
			t.Error("no error")
		}
	})
	t.Run("no audit, no answer", func(t *testing.T) {
		f := newFixture(t)
		f.audit.fail = vargate.Errorf(vargate.KindUnavailable, "audit log is closed")
		if _, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`)); err == nil {
			t.Error("answered without an audit record")
		}
	})
	t.Run("unknown tool", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.gov.Call(t.Context(), f.p, "vargate_wire_money", json.RawMessage(`{"iban":"DE89370400440532013000"}`))
		if !errors.Is(err, govern.ErrUnknownTool) || !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("err = %v", err)
		}
		rec := f.audit.last(t)
		if rec.Tool != "vargate_wire_money" || !strings.HasPrefix(rec.Reasons[0], "unknown_tool") || strings.Contains(string(rec.ArgsRedacted), "DE89") {
			t.Errorf("record = %+v", rec)
		}
	})
	t.Run("human keys are refused", func(t *testing.T) {
		f := newFixture(t)
		p := f.p
		p.Role = vargate.RoleAdmin
		if _, err := f.gov.Call(t.Context(), p, tools.WebSearch, json.RawMessage(`{"query":"x"}`)); !vargate.IsKind(err, vargate.KindForbidden) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestConfigCacheAndVisible(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.gov.Now = func() time.Time { return now }
	for range 3 {
		if _, err := f.gov.Visible(t.Context(), f.p); err != nil {
			t.Fatal(err)
		}
	}
	if f.configs.calls != 1 {
		t.Errorf("%d configuration reads, want 1", f.configs.calls)
	}
	vis, _ := f.gov.Visible(t.Context(), f.p)
	var names []string
	for _, tl := range vis {
		names = append(names, tl.Name)
	}
	if want := []string{tools.WebSearch, tools.SendEmail, tools.ApprovalStatus}; !slices.Equal(names, want) {
		t.Errorf("visible = %v, want %v", names, want)
	}
	f.configs.cfg.AllowedTools = []string{tools.WebSearch}
	f.gov.Invalidate("tenant-1", "agent-a1")
	vis, _ = f.gov.Visible(t.Context(), f.p)
	if len(vis) != 2 || f.configs.calls != 2 {
		t.Errorf("after invalidate: %d tools, %d reads", len(vis), f.configs.calls)
	}
	now = now.Add(govern.DefaultConfigTTL + time.Second)
	f.gov.Visible(t.Context(), f.p)
	if f.configs.calls != 3 {
		t.Errorf("after the TTL: %d reads, want 3", f.configs.calls)
	}
}

func TestExecuteApproved(t *testing.T) {
	f := newFixture(t)
	out, err := f.gov.Call(t.Context(), f.p, tools.SendEmail, json.RawMessage(`{"to":"bob@example.com","subject":"hi","body":"hello"}`))
	if err != nil || out.Status != govern.Pending {
		t.Fatalf("%v %v", out.Status, err)
	}
	req := f.queue.reqs[0]
	a := approval.Action{ID: req.ID, TenantID: req.TenantID, AgentID: req.AgentID, SessionID: req.SessionID, Tool: req.Tool, Args: req.Args, DecidedBy: "key-approver"}

	res, err := f.gov.ExecuteApproved(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != `{"done":true}` || len(f.email.calls) != 1 || f.email.calls[0].ActionID != a.ID {
		t.Errorf("result %s, calls %+v", res, f.email.calls)
	}

	// The configuration changed meanwhile: e-mail is no longer allowed.
	f.configs.cfg.AllowedTools = []string{tools.WebSearch}
	_, err = f.gov.ExecuteApproved(t.Context(), a)
	var pde *approval.PolicyDeniedError
	if !errors.As(err, &pde) || !errors.Is(err, approval.ErrPolicyNowDenies) || !strings.HasPrefix(pde.Reasons[0], "tool_not_allowed") {
		t.Errorf("err = %v, want a PolicyDeniedError for tool_not_allowed", err)
	}
	if len(f.email.calls) != 1 {
		t.Error("a denied action ran")
	}
}

func TestApprovalStatusChecksOwnership(t *testing.T) {
	f := newFixture(t)
	out, _ := f.gov.Call(t.Context(), f.p, tools.SendEmail, json.RawMessage(`{"to":"bob@example.com","subject":"hi","body":"hello"}`))
	ask := func(p vargate.Principal) govern.Outcome {
		o, err := f.gov.Call(t.Context(), p, tools.ApprovalStatus, json.RawMessage(`{"action_id":"`+out.ActionID+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := ask(f.p); o.Status != govern.Executed || !strings.Contains(string(o.Result.Structured), `"status":"pending"`) {
		t.Errorf("own action: %s %s %s", o.Status, o.Message, o.Result.Structured)
	}
	other := f.p
	other.SessionID = "vs-2"
	if o := ask(other); o.Status != govern.Failed || !strings.Contains(o.Message, "no action") {
		t.Errorf("other session: %s %q", o.Status, o.Message)
	}
}

// TestGatewayFailureLoggedOnce: a failure of the gateway before the
// decision (here the agent configuration cannot be read) stops the call,
// runs nothing and is logged once, at error level, by the governor (the
// MCP server only logs it at debug level).
func TestGatewayFailureLoggedOnce(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.gov.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.configs.err = errors.New("database is down")
	_, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`))
	if err == nil {
		t.Fatal("a call whose configuration cannot be read went ahead")
	}
	if len(f.search.calls) != 0 {
		t.Fatalf("the connector ran %d times", len(f.search.calls))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	errorLines := 0
	for _, l := range lines {
		if strings.Contains(l, `"level":"ERROR"`) && strings.Contains(l, "database is down") {
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Fatalf("%d error lines name the failure, want 1:\n%s", errorLines, logs.String())
	}
}
