package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/vault"
)

// anthropicKey is the only key the simulator accepts.
const anthropicKey = "sk-ant-test-key"

// waitTimeout bounds every wait so a broken flow fails instead of hanging.
const waitTimeout = 30 * time.Second

// clock is a test clock that starts at the real time and can be moved.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// keys hands out the operator's fallback key, one Secret shared by every
// use as vault.UseOrFallback does.
type keys struct{ fallback vault.Secret }

func newKeys() keys {
	return keys{vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", anthropicKey)}
}

func (k keys) AnthropicKey(context.Context, string, vault.Purpose) (vault.Secret, error) {
	return k.fallback, nil
}

// pending is a fake approval queue: the test sets how many actions of a
// session are unsettled.
type pending struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *pending) PendingActions(_ context.Context, _, sessionID string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[sessionID], nil
}

func (p *pending) set(sessionID string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int{}
	}
	p.n[sessionID] = n
}

// env is a gateway's session service over a store, an audit log, the
// simulator (behind a fault injector) and a small MCP server that
// authenticates with the session tokens; the gateway's event consumer
// (internal/observe, as in production) follows the sessions' streams.
type env struct {
	t       testing.TB
	db      *sqlstore.DB
	log     *audit.Log
	agents  *agent.Service
	svc     *session.Service
	obs     *observe.Service // svc's event consumer
	sim     *sim.Server
	simURL  string
	faults  *faults
	mcp     *mcpGateway
	pending *pending
	clock   *clock
	tenant  string
}

// scenarios: quick answers at once; medium after 0.4 s, slow after 2 s
// and a governed call (TimeScale 0.01); hold keeps working until the test
// ends, so its session keeps its budget slot however loaded the machine is.
var scenarios = []sim.Scenario{
	{Name: "quick", Steps: []sim.Step{{Type: sim.StepMessage, Text: "Done."}, {Type: sim.StepEndTurn}}},
	{Name: "medium", Steps: []sim.Step{
		{Type: sim.StepWait, Duration: sim.Duration(40 * time.Second)},
		{Type: sim.StepMessage, Text: "Done after a while."},
		{Type: sim.StepEndTurn},
	}},
	{Name: "slow", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "Working on it."},
		{Type: sim.StepWait, Duration: sim.Duration(200 * time.Second)},
		{Type: sim.StepMCPTool, Name: "vargate_web_search", Input: map[string]any{"query": "after the wait"}},
		{Type: sim.StepEndTurn},
	}},
	{Name: "hold", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "Working on it."},
		{Type: sim.StepWait, Duration: sim.Duration(1_000_000 * time.Second)},
		{Type: sim.StepEndTurn},
	}},
}

func newEnv(t testing.TB, d sqlstore.Dialect) *env {
	t.Helper()
	db := storetest.Open(t, d)
	ctx := t.Context()
	as := auth.NewService(sqlstore.NewAuthStore(db))
	tn, err := as.CreateTenant(ctx, "acme-"+strings.ToLower(vargate.NewID("", 3)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(sqlstore.NewAuditStore(db), signer)
	log.CheckpointInterval = -1
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })

	s, err := sim.New(sim.Options{APIKey: anthropicKey, StepDelay: time.Millisecond, TimeScale: 0.01,
		Scenarios: scenarios, HeartbeatInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := &faults{next: s}
	ts := httptest.NewServer(f)
	t.Cleanup(func() {
		_ = s.Close()
		ts.Close()
	})
	e := &env{t: t, db: db, log: log, sim: s, simURL: ts.URL, faults: f, pending: &pending{}, clock: &clock{}, tenant: tn.ID}
	e.agents = agent.New(sqlstore.NewAgentStore(db), log)
	e.agents.Now = e.clock.Now
	e.mcp = newMCPGateway(t, e)
	e.svc = e.newService()
	return e
}

// newService builds a gateway's session service and its event consumer
// over env's store, as a (re)started gateway would; e.obs becomes the
// consumer.
func (e *env) newService() *session.Service {
	up := &session.Upstream{BaseURL: e.simURL, Keys: newKeys()}
	svc := session.New(sqlstore.NewSessionStore(e.db), e.agents, up, e.log, e.mcp.URL)
	svc.Pending = e.pending
	svc.Now = e.clock.Now
	obs := observe.New(sqlstore.NewObserveStore(e.db), observe.SessionUpstream{Upstream: up}, e.log, nil)
	obs.AuditReader = sqlstore.NewAuditStore(e.db)
	obs.Lifecycle, obs.Configs = svc, e.agents
	obs.SSETimeout = 5 * time.Second
	obs.ReconnectMin, obs.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	if err := obs.Open(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = obs.Close() })
	svc.Observer = obs
	e.obs = obs
	return svc
}

// stop stops the gateway: nobody follows the sessions' streams until
// newService starts another.
func (e *env) stop(t *testing.T) {
	t.Helper()
	if err := e.obs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) newAgent(t *testing.T, p agent.Params) agent.Config {
	t.Helper()
	if p.Name == nil {
		p.Name = ptr("Research Assistant")
	}
	if p.AllowedTools == nil {
		p.AllowedTools = ptr([]string{"vargate_web_search", "vargate_send_email"})
	}
	if p.RequireHumanApproval == nil {
		p.RequireHumanApproval = ptr([]string{"vargate_send_*"})
	}
	c, err := e.agents.Create(t.Context(), e.tenant, "key-admin", p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) create(t *testing.T, svc *session.Service, agentID, msg string) (session.Session, error) {
	t.Helper()
	return svc.Create(t.Context(), session.CreateRequest{TenantID: e.tenant, AgentID: agentID, UserMessage: msg, Actor: "key-admin"})
}

// waitStatus polls the session until it has status want.
func (e *env) waitStatus(t *testing.T, svc *session.Service, id string, want session.Status) session.Session {
	t.Helper()
	var s session.Session
	defer func() { // runs when For fails the test, too
		if s.Status != want {
			t.Logf("session %s is %s (stop %q, end %q), want %s", id, s.Status, s.StopReason, s.EndReason, want)
		}
	}()
	testwait.For(t, waitTimeout, fmt.Sprintf("session %s to be %s", id, want), func() bool {
		var err error
		if s, err = svc.Get(t.Context(), e.tenant, id); err != nil {
			t.Fatal(err)
		}
		return s.Status == want
	})
	return s
}

// client is an SDK client of the simulator, to inspect it as a test.
func (e *env) client() anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(e.simURL), option.WithAPIKey(anthropicKey), option.WithMaxRetries(0),
		option.WithoutEnvironmentDefaults())
}

// liveVaults lists the simulator's vaults that are not deleted.
func (e *env) liveVaults(t *testing.T) []string {
	t.Helper()
	c := e.client()
	page, err := c.Beta.Vaults.List(t.Context(), anthropic.BetaVaultListParams{Limit: anthropic.Int(100)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range page.Data {
		ids = append(ids, v.ID)
	}
	return ids
}

// runningUpstream returns the IDs of the simulator's sessions.
func (e *env) upstreamSessions() []string { return e.sim.SessionIDs() }

func ptr[T any](v T) *T { return &v }

// faults sits in front of the simulator and fails the next request that
// matches a rule, as Anthropic would: an error body with a request ID.
type faults struct {
	next http.Handler
	mu   sync.Mutex
	rule *fault
	seen []string // "METHOD /path" of every request
}

type fault struct {
	method string
	// match is a path pattern: "*" matches one segment.
	match  string
	status int
	typ    string
	reqID  string
	hit    bool
}

func (f *faults) failNext(method, match string, status int, typ string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := vargate.NewID("req_fault", 6)
	f.rule = &fault{method: method, match: match, status: status, typ: typ, reqID: id}
	return id
}

func (f *faults) hit() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rule == nil || f.rule.hit
}

func (f *faults) clear() {
	f.mu.Lock()
	f.rule = nil
	f.mu.Unlock()
}

func matchPath(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path)
	rule := f.rule
	fire := rule != nil && !rule.hit && rule.method == r.Method && matchPath(rule.match, r.URL.Path)
	if fire {
		rule.hit = true
	}
	f.mu.Unlock()
	if !fire {
		f.next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", rule.reqID)
	w.WriteHeader(rule.status)
	fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":"injected fault"},"request_id":%q}`, rule.typ, rule.reqID)
}

// mcpGateway stands in for Vargate's MCP server until issue 8 lands: a
// Streamable HTTP MCP server that admits only a live session's token
// (through AuthenticateSessionToken) and writes a governed audit record
// per call, as the real pipeline does.
type mcpGateway struct {
	URL string
	mu  sync.Mutex
	// calls are the principals of the tool calls, in order.
	calls []call
	// refused counts requests whose credential was refused.
	refused int
}

type call struct {
	Tool      string
	Principal vargate.Principal
	Token     string
}

func newMCPGateway(t testing.TB, e *env) *mcpGateway {
	g := &mcpGateway{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "vargate-test", Version: "1"}, nil)
	for _, name := range []string{"vargate_web_search", "vargate_send_email"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}},
			func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				token, _ := strings.CutPrefix(req.Extra.Header.Get("Authorization"), "Bearer ")
				p, err := e.svc.AuthenticateSessionToken(ctx, auth.HashToken(token))
				if err != nil {
					return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "unauthorized"}}}, nil
				}
				g.mu.Lock()
				g.calls = append(g.calls, call{Tool: name, Principal: p, Token: token})
				g.mu.Unlock()
				decision, text := "allow", "results for "+name
				if name == "vargate_send_email" {
					decision, text = "require_approval", "Action pending human approval."
					e.pending.set(p.SessionID, 1)
				}
				args, _ := json.Marshal(req.Params.Arguments)
				_, err = e.log.Append(context.WithoutCancel(ctx), audit.Record{TenantID: p.TenantID, Source: audit.SourceMCPGoverned,
					SessionID: p.SessionID, AgentID: p.AgentID, ActionID: vargate.NewID("act-", 6), Tool: name,
					Decision: decision, ArgsDigest: policy.Digest(args), ArgsRedacted: args, Actor: p.KeyID})
				if err != nil {
					return nil, err
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
			})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	// The transport refuses a request without a live session token, as
	// the real MCP server's authentication does.
	guard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(token, auth.SessionTokenPrefix) {
			g.mu.Lock()
			g.refused++
			g.mu.Unlock()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if _, err := e.svc.AuthenticateSessionToken(r.Context(), auth.HashToken(token)); err != nil {
			g.mu.Lock()
			g.refused++
			g.mu.Unlock()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("/api/mcp/server", guard)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	g.URL = ts.URL + "/api/mcp/server"
	return g
}

func (g *mcpGateway) Calls() []call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}
