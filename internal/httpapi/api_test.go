package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/webhook"
)

// apiOptions says which services newAPI wires besides authentication and
// the audit log; the zero value is an API whose other routes answer 503.
type apiOptions struct {
	// Approvals wires approvals (executed by the counting executor) and
	// webhooks (private receivers allowed, quick retries).
	Approvals bool
	// Policies wires /policies over the store, with its engine.
	Policies bool
	// Compliance wires the compliance export and replay, deciding with
	// the store's policies when Policies is set, else the base policy.
	Compliance bool
	// Vault wires /credentials, its keys in the data directory.
	Vault bool
	// Tools wires the tool catalog (web search built in); agents then
	// accept only tools the catalog knows in allowed_tools.
	Tools bool
	// Agents wires /managed/agents without sessions.
	Agents bool
	// Scenarios, when set, wires agents, sessions and the event consumer
	// over the simulator playing them.
	Scenarios []sim.Scenario
	// MetricsToken is the operator's /metrics token.
	MetricsToken string
	// MaxBodyBytes bounds request bodies (the server's default when 0).
	MaxBodyBytes int64
}

// api is the REST API over a fresh SQLite database in its own data
// directory, with tenants acme and globex and a key of every role in
// each, named "acme/admin", "globex/agent" and so on. Without sessions
// (Scenarios), "acme/session" is a session token of agent-1 in acme.
type api struct {
	srv  *httptest.Server
	dir  string // the data directory: database, audit and vault keys
	db   *sqlstore.DB
	auth *auth.Service
	log  *audit.Log
	logs *syncBuffer // the server's and services' log, JSON lines

	keys map[string]string // "acme/admin" → secret
	ids  map[string]string // "acme/admin" → key ID
	tids map[string]string // "acme" → tenant ID

	// Set by the options.
	approvals  *approval.Service
	exec       *countingExecutor
	hooks      *webhook.Service
	policies   *sqlstore.PolicyStore
	engine     *policy.Engine
	compliance *compliance.Service
	vault      *vault.Vault
	credAudit  *jsonAudit
	catalog    *tools.Catalog
	agents     *agent.Service
	sessions   *session.Service
	observe    *observe.Service
}

// agentID is the agent the agent keys and the session token act for.
const agentID = "agent-1"

// simKey is the Anthropic key the simulator expects.
const simKey = "sk-ant-http-test"

// newAPI starts the API with the services opts asks for; everything is
// closed when the test ends.
func newAPI(t *testing.T, opts apiOptions) *api {
	t.Helper()
	ctx := t.Context()
	a := &api{dir: t.TempDir(), logs: &syncBuffer{},
		keys: map[string]string{}, ids: map[string]string{}, tids: map[string]string{}}
	logger := slog.New(slog.NewJSONHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := sqlite.Open(ctx, filepath.Join(a.dir, "vargate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx, storetest.Migrations(t, sqlstore.SQLite)); err != nil {
		t.Fatal(err)
	}
	a.db = db
	a.auth = auth.NewService(sqlstore.NewAuthStore(db))
	a.addKeys(t)

	signer, err := audit.LoadOrCreateKey(filepath.Join(a.dir, "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	a.log = audit.New(sqlstore.NewAuditStore(db), signer)
	a.log.CheckpointInterval = -1
	if err := a.log.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.log.Close() })

	s := &httpapi.Server{Logger: logger, Auth: a.auth, Audit: a.log, Ping: db.Ping,
		MetricsToken: opts.MetricsToken, MaxBodyBytes: opts.MaxBodyBytes}
	if opts.Approvals {
		a.openApprovals(t, logger)
		s.Approvals, s.Webhooks = a.approvals, a.hooks
	}
	if opts.Policies || opts.Compliance {
		var store policy.Store
		if opts.Policies {
			a.policies = sqlstore.NewPolicyStore(db)
			store = a.policies
		}
		if a.engine, err = policy.NewEngine(ctx, store); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Policies {
		s.Policies = &httpapi.Policies{Store: a.policies, Engine: a.engine, Audit: a.log}
	}
	if opts.Compliance {
		sessions := sqlstore.NewSessionStore(db)
		a.compliance = compliance.New(sessions, sqlstore.NewAgentStore(db), sessions, a.log, a.engine)
		s.Compliance = a.compliance
	}
	if opts.Vault {
		keys, err := vault.OpenKeyProvider(ctx, vault.KeyProviderConfig{DataDir: a.dir}, logger)
		if err != nil {
			t.Fatal(err)
		}
		a.credAudit = &jsonAudit{}
		a.vault = vault.New(sqlstore.NewVaultStore(db), keys, a.credAudit, logger)
		s.Vault = a.vault
	}
	if opts.Tools {
		a.catalog = tools.NewCatalog(tools.NewWebSearchTool(&tools.WebSearchConnector{}))
		a.catalog.Store = sqlstore.NewToolStore(db)
		s.Tools = a.catalog
	}
	if opts.Agents || opts.Scenarios != nil {
		a.agents = agent.New(sqlstore.NewAgentStore(db), a.log)
		if a.catalog != nil {
			a.agents.KnownTool = a.knownTool
		}
		s.Agents = a.agents
	}
	if opts.Scenarios != nil {
		a.openSessions(t, opts.Scenarios, logger)
		s.Sessions, s.Observe = a.sessions, a.observe
	}
	a.srv = httptest.NewServer(s.Handler())
	t.Cleanup(a.srv.Close)
	return a
}

// addKeys creates the tenants acme and globex with a key of every role.
func (a *api) addKeys(t *testing.T) {
	t.Helper()
	for _, name := range []string{"acme", "globex"} {
		tn, err := a.auth.CreateTenant(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		a.tids[name] = tn.ID
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleApprover, vargate.RoleAuditor, vargate.RoleAgent} {
			req := auth.KeyRequest{TenantID: tn.ID, Role: role}
			if role == vargate.RoleAgent {
				req.AgentID = agentID
			}
			k, secret, err := a.auth.CreateKey(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			a.keys[name+"/"+string(role)] = secret
			a.ids[name+"/"+string(role)] = k.ID
		}
	}
	a.keys["acme/session"] = auth.NewToken(auth.SessionTokenPrefix)
	a.auth.Sessions = sessionTokens{a.keys["acme/session"],
		vargate.Principal{TenantID: a.tids["acme"], Role: vargate.RoleAgent, AgentID: agentID, SessionID: "vs-1", KeyID: "tok-1"}}
}

// openApprovals starts webhooks and approvals, both audited.
func (a *api) openApprovals(t *testing.T, logger *slog.Logger) {
	t.Helper()
	sealer := vaulttest.NewSealer()
	a.hooks = webhook.New(sqlstore.NewWebhookStore(a.db), sealer, logger)
	a.hooks.Auditor = a.log
	a.hooks.AllowPrivate = true
	a.hooks.PollInterval = 10 * time.Millisecond
	a.hooks.BaseDelay, a.hooks.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	if err := a.hooks.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.hooks.Close() })
	a.exec = &countingExecutor{}
	a.approvals = approval.New(sqlstore.NewApprovalStore(a.db), a.exec, logger)
	a.approvals.Auditor, a.approvals.Emitter, a.approvals.Sealer = a.log, a.hooks, sealer
	if err := a.approvals.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.approvals.Close() })
}

// openSessions starts the simulator playing scenarios, the session
// service over it and the event consumer; session tokens are real.
func (a *api) openSessions(t *testing.T, scenarios []sim.Scenario, logger *slog.Logger) {
	t.Helper()
	s, err := sim.New(sim.Options{APIKey: simKey, StepDelay: time.Millisecond, TimeScale: 0.01, Scenarios: scenarios})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(s)
	t.Cleanup(func() {
		_ = s.Close()
		simSrv.Close()
	})
	upstream := &session.Upstream{BaseURL: simSrv.URL, Keys: simKeys{}}
	a.sessions = session.New(sqlstore.NewSessionStore(a.db), a.agents, upstream, a.log, "https://gateway.example/api/mcp/server")
	t.Cleanup(func() { _ = a.sessions.Close() })
	a.observe = observe.New(sqlstore.NewObserveStore(a.db), observe.SessionUpstream{Upstream: upstream}, a.log, logger)
	a.observe.Lifecycle, a.observe.Configs = a.sessions, a.agents
	// Generous: on a loaded CI machine under -race the stream can take
	// seconds to show the session idle; confirmation is still required.
	a.observe.InterruptWait = 15 * time.Second
	if err := a.observe.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.observe.Close() })
	a.sessions.Observer = a.observe
	a.auth.Sessions = a.sessions
	delete(a.keys, "acme/session")
}

// knownTool reports whether the tenant's catalog has the tool.
func (a *api) knownTool(ctx context.Context, tenantID, name string) (bool, error) {
	set, err := a.catalog.Set(ctx, tenantID)
	if err != nil {
		return false, err
	}
	_, ok := set.Lookup(name)
	return ok, nil
}

// response is one answer of the API.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // the answer as a JSON object; nil if it is none
}

// errorField returns the named field of the error answered ("code",
// "field", "message", "request_id").
func (r response) errorField(name string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

// do sends method path as who and decodes a JSON answer into out (when
// not nil; an answer that is not JSON fails the test). who names a key
// ("acme/admin"); anything else is sent as the key itself, "" as none.
// A body is sent as application/json; "" sends none, as the guide's
// curl commands do.
func (a *api) do(t *testing.T, who, method, path, body string, out any) response {
	t.Helper()
	return a.send(t, a.request(t, who, method, path, body), out)
}

// request builds what do sends, for a test that adds its own headers.
func (a *api) request(t *testing.T, who, method, path, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	key, named := a.keys[who]
	if !named {
		key = who
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	return req
}

// send sends req and decodes a JSON answer into out (when not nil).
func (a *api) send(t *testing.T, req *http.Request, out any) response {
	t.Helper()
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body) // not every answer is an object
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", req.Method, req.URL.Path, resp.StatusCode, raw, err)
		}
	}
	return r
}

// syncBuffer is a log destination the test may read while the
// services write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// countingExecutor counts executions; it can deny as a changed policy would.
type countingExecutor struct {
	n    atomic.Int32
	deny atomic.Bool
}

func (e *countingExecutor) ExecuteApproved(context.Context, approval.Action) (json.RawMessage, error) {
	if e.deny.Load() {
		return nil, &approval.PolicyDeniedError{Reasons: []string{"send_email is no longer allowed"}}
	}
	e.n.Add(1)
	return json.RawMessage(`{"sent":true}`), nil
}

// sessionTokens resolves one session token.
type sessionTokens struct {
	token string
	p     vargate.Principal
}

func (s sessionTokens) AuthenticateSessionToken(_ context.Context, hash []byte) (vargate.Principal, error) {
	if string(hash) == string(auth.HashToken(s.token)) {
		return s.p, nil
	}
	return vargate.Principal{}, vargate.Errorf(vargate.KindUnauthorized, "unknown token")
}

// jsonAudit serialises every credential audit record, as an export would.
type jsonAudit struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *jsonAudit) RecordCredentialAccess(_ context.Context, r vault.Access) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return json.NewEncoder(&a.buf).Encode(r)
}

// Bytes returns a copy of the records so far.
func (a *jsonAudit) Bytes() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.buf.Bytes())
}

// simKeys hands the session service the simulator's key.
type simKeys struct{}

func (simKeys) AnthropicKey(context.Context, string, vault.Purpose) (vault.Secret, error) {
	return vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", simKey), nil
}

// decode unmarshals b into a T, failing the test if it cannot.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}
