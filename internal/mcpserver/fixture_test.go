package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/vault/vaulttest"
)

// gateway is the MCP endpoint wired as cmd wires it — SQL store, auth
// service, audit log, policy engine, vault, approval queue, governor —
// with fakes only for agent configurations, session tokens, webhooks, and
// the outside world (a Brave-shaped search API, an SMTP server, an HTTP
// API for tenant tools).
type gateway struct {
	db       *sqlstore.DB
	auth     *auth.Service
	sessions *fakeSessions
	log      *audit.Log
	vault    *vault.Vault
	catalog  *tools.Catalog
	gov      *govern.Governor
	queue    *approval.Service
	events   *fakeEvents
	configs  *fakeConfigs
	server   *mcpserver.Server
	ts       *httptest.Server
	url      string
	smtp     *fakeSMTP
	api      *httptest.Server // the tenant tool's API (https)
	apiKeys  chan string      // the X-Api-Key of each request api received
	logs     *lockedBuffer    // the governor's log
	// searches counts the requests the search API received: the side
	// effects of vargate_web_search.
	searches atomic.Int64

	acme, globex tenant

	// sideEffects counts what reached the outside world: no-op connector
	// runs (with noop) and requests to the tenant tool's API.
	sideEffects atomic.Int64
}

// tenant is a tenant with an agent configuration, an agent key for it and
// an admin key.
type tenant struct {
	ID       string
	AgentID  string
	AgentKey string
	AdminKey string
}

const searchKey = "brave-test-key-123"

type gatewayOptions struct {
	dialect sqlstore.Dialect
	// configure runs before the handler is built.
	configure func(s *mcpserver.Server)
	// noop replaces every connector by one that answers at once (for
	// benchmarks).
	noop bool
}

func newGateway(tb testing.TB, o gatewayOptions) *gateway {
	tb.Helper()
	ctx := context.Background()
	if o.dialect == "" {
		o.dialect = sqlstore.SQLite
	}
	g := &gateway{db: storetest.Open(tb, o.dialect), events: &fakeEvents{}, configs: &fakeConfigs{m: map[string]agent.Config{}}}

	signer, err := audit.LoadOrCreateKey(filepath.Join(tb.TempDir(), "audit.key"), "")
	if err != nil {
		tb.Fatal(err)
	}
	g.log = audit.New(sqlstore.NewAuditStore(g.db), signer)
	g.log.CheckpointInterval = -1
	if err := g.log.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.log.Close() })

	g.sessions = &fakeSessions{m: map[string]vargate.Principal{}}
	g.auth = auth.NewService(sqlstore.NewAuthStore(g.db))
	g.auth.Sessions = g.sessions

	keys, err := vault.OpenLocalKeyProvider(filepath.Join(tb.TempDir(), "kek"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	g.vault = vault.New(sqlstore.NewVaultStore(g.db), keys, credentialAuditor{g.log}, nil)

	engine, err := policy.NewEngine(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	// Shared test machines can starve one evaluation past the default
	// 100 ms; failing closed on time is not what these tests are about.
	engine.Timeout = 10 * time.Second

	guard := &netguard.Guard{AllowPrivate: true}
	search := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.searches.Add(1)
		fakeBrave(w, r)
	}))
	tb.Cleanup(search.Close)
	g.smtp = startSMTP(tb)
	g.apiKeys = make(chan string, 100)
	g.api = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.sideEffects.Add(1)
		select {
		case g.apiKeys <- r.Header.Get("X-Api-Key"):
		default:
		}
		// It echoes the credential, as a careless or hostile API would.
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "query": r.URL.RawQuery, "key": r.Header.Get("X-Api-Key")})
	}))
	tb.Cleanup(g.api.Close)

	runner := tools.NewHTTPRunner(guard, g.vault)
	runner.TLSConfig = g.api.Client().Transport.(*http.Transport).TLSClientConfig
	builtins := []*tools.Tool{
		tools.NewWebSearchTool(&tools.WebSearchConnector{URL: search.URL + "/res/v1/web/search", Credentials: g.vault}),
		tools.NewSendEmailTool(&tools.EmailConnector{Credentials: g.vault, Guard: guard}),
		tools.NewReadDatabaseTool(&tools.DatabaseConnector{Credentials: g.vault, Guard: guard}),
		tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{Runner: runner}),
	}
	if o.noop {
		for i, t := range builtins {
			c := *t
			c.Connector = tools.ConnectorFunc(func(context.Context, *tools.Call) (tools.Result, error) {
				g.sideEffects.Add(1)
				return tools.Result{Structured: json.RawMessage(`{"ok":true}`)}, nil
			})
			builtins[i] = &c
		}
	}
	g.catalog = tools.NewCatalog(builtins...)
	g.catalog.Store = sqlstore.NewToolStore(g.db)
	g.catalog.Runner = runner
	g.catalog.Audit = g.log

	g.logs = &lockedBuffer{}
	g.gov = govern.New(g.catalog, g.configs, engine, g.log, slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	g.gov.Events = g.events
	g.catalog.Add(g.gov.ApprovalStatusTool())

	g.queue = approval.New(sqlstore.NewApprovalStore(g.db), g.gov, nil)
	g.queue.Auditor = g.log
	g.queue.Sealer = vaulttest.NewSealer()
	g.queue.SweepInterval = -1
	if err := g.queue.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.queue.Close() })
	g.gov.Queue = g.queue

	g.acme = g.newTenant(tb, "acme", agent.Config{
		AllowedTools:         []string{tools.WebSearch, tools.SendEmail, tools.ReadDatabase, tools.HTTPRequest, "crm_lookup"},
		RequireHumanApproval: []string{"vargate_send_*"},
		MaxDelegationDepth:   1,
		GovernanceProfile:    agent.GovernanceProfile{RiskLevel: "standard", PIIDetection: true, AllowedDomains: []string{"127.0.0.1"}},
	})
	g.globex = g.newTenant(tb, "globex", agent.Config{
		AllowedTools:       []string{tools.WebSearch, "crm_lookup"},
		MaxDelegationDepth: 1,
		GovernanceProfile:  agent.GovernanceProfile{RiskLevel: "standard", PIIDetection: true},
	})
	for _, t := range []tenant{g.acme, g.globex} {
		g.register(tb, t.ID, tools.WebSearch, vault.TypeAPIKey, searchKey)
		g.register(tb, t.ID, tools.SendEmail, vault.TypeSMTP, `{"host":"127.0.0.1","port":`+g.smtp.port+`,"username":"mailer","password":"smtp-pass","from":"agent@acme.example"}`)
		g.register(tb, t.ID, vault.HostToolID("127.0.0.1"), vault.TypeAPIKey, "crm-secret-"+t.ID)
	}
	if _, err := g.catalog.Create(ctx, g.acme.ID, "key-test", tools.TenantTool{
		Name: "crm_lookup", Description: "Look up a CRM contact by ID",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}},"required":["id"],"additionalProperties":false}`),
		Request:     tools.RequestTemplate{Method: "GET", URL: g.api.URL + "/contacts/{id}"},
		Credential:  &tools.CredentialRef{ToolID: vault.HostToolID("127.0.0.1"), In: "header", Param: "X-Api-Key"},
		ReadOnly:    true,
	}); err != nil {
		tb.Fatal(err)
	}

	// No authentication cache, so that an ended session fails at once;
	// TestAuthCache covers the cache.
	g.server = &mcpserver.Server{Governor: g.gov, Auth: g.auth, AuthCacheTTL: -1}
	if o.configure != nil {
		o.configure(g.server)
	}
	mux := http.NewServeMux()
	g.server.Mount(mux)
	g.ts = httptest.NewServer(mux)
	tb.Cleanup(g.ts.Close)
	g.url = g.ts.URL + mcpserver.APIPath
	return g
}

func (g *gateway) newTenant(tb testing.TB, name string, cfg agent.Config) tenant {
	tb.Helper()
	ctx := context.Background()
	t, err := g.auth.CreateTenant(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ID, cfg.TenantID, cfg.Version, cfg.Name = vargate.NewID("agent-", 6), t.ID, 1, name+" agent"
	g.configs.put(cfg)
	_, agentKey, err := g.auth.CreateKey(ctx, auth.KeyRequest{TenantID: t.ID, Role: vargate.RoleAgent, AgentID: cfg.ID})
	if err != nil {
		tb.Fatal(err)
	}
	_, adminKey, err := g.auth.CreateKey(ctx, auth.KeyRequest{TenantID: t.ID, Role: vargate.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	return tenant{ID: t.ID, AgentID: cfg.ID, AgentKey: agentKey, AdminKey: adminKey}
}

func (g *gateway) register(tb testing.TB, tenantID, toolID string, typ vault.Type, value string) {
	tb.Helper()
	if _, err := g.vault.Register(context.Background(), tenantID, vault.Registration{ToolID: toolID, Type: typ, Value: []byte(value)}); err != nil {
		tb.Fatal(err)
	}
}

// sessionToken issues a session token for the tenant's agent.
func (g *gateway) sessionToken(t tenant) (token, sessionID string) {
	token = auth.NewToken(auth.SessionTokenPrefix)
	sessionID = vargate.NewID("vs-", 8)
	g.sessions.put(token, vargate.Principal{TenantID: t.ID, Role: vargate.RoleAgent, AgentID: t.AgentID, SessionID: sessionID, KeyID: vargate.NewID("tok-", 6)})
	return token, sessionID
}

// records returns the tenant's audit records of a source, oldest first.
func (g *gateway) records(tb testing.TB, tenantID string, src audit.Source) []audit.Record {
	tb.Helper()
	var out []audit.Record
	err := sqlstore.NewAuditStore(g.db).Scan(context.Background(), tenantID, 0, 0, func(r *audit.Record) error {
		if r.Source == src {
			out = append(out, r.Clone())
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// connect opens an MCP client session with the token.
func (g *gateway) connect(tb testing.TB, token, version string) *mcp.ClientSession {
	tb.Helper()
	cs, err := tryConnect(context.Background(), g.url, token, version)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { cs.Close() })
	return cs
}

func tryConnect(ctx context.Context, url, token, version string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "vargate-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: bearerRT{token, http.DefaultTransport}, Timeout: 30 * time.Second},
		MaxRetries: -1,
	}
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	return client.Connect(ctx, tr, opts)
}

type bearerRT struct {
	token string
	next  http.RoundTripper
}

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// fakeConfigs is the agent service: configurations by agent ID.
type fakeConfigs struct {
	mu sync.Mutex
	m  map[string]agent.Config
}

func (f *fakeConfigs) put(c agent.Config) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[c.ID] = c
}

func (f *fakeConfigs) ConfigFor(_ context.Context, p vargate.Principal) (agent.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[p.AgentID]
	if !ok || c.TenantID != p.TenantID {
		return agent.Config{}, vargate.NotFound("agent " + p.AgentID)
	}
	return c, nil
}

// fakeSessions resolves session tokens until their session ends.
type fakeSessions struct {
	mu sync.Mutex
	m  map[string]vargate.Principal // hash → principal
}

func (f *fakeSessions) put(token string, p vargate.Principal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[string(auth.HashToken(token))] = p
}

func (f *fakeSessions) end(sessionID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, p := range f.m {
		if p.SessionID == sessionID {
			delete(f.m, k)
		}
	}
}

func (f *fakeSessions) AuthenticateSessionToken(_ context.Context, hash []byte) (vargate.Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[string(hash)]
	if !ok {
		return vargate.Principal{}, vargate.NotFound("session token")
	}
	return p, nil
}

// fakeEvents records webhook events.
type fakeEvents struct {
	mu     sync.Mutex
	events []event
}

type event struct {
	Tenant, Name string
	Data         map[string]any
}

func (f *fakeEvents) Emit(_ context.Context, tenantID, name string, data any) error {
	b, _ := json.Marshal(data)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event{tenantID, name, m})
	return nil
}

func (f *fakeEvents) all() []event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event(nil), f.events...)
}

// credentialAuditor records vault uses as cmd does.
type credentialAuditor struct{ log *audit.Log }

func (a credentialAuditor) RecordCredentialAccess(ctx context.Context, x vault.Access) error {
	detail, _ := json.Marshal(map[string]any{"op": x.Op, "credential_id": x.CredentialID, "version": x.Version})
	_, err := a.log.Append(ctx, audit.Record{TenantID: x.TenantID, Time: x.At, Source: audit.SourceCredential,
		SessionID: x.SessionID, ActionID: x.ActionID, Tool: x.ToolID, Actor: x.Actor, Detail: detail})
	return err
}

// fakeBrave answers like the Brave Search API when the key is right.
func fakeBrave(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Subscription-Token") != searchKey {
		http.Error(w, `{"error":"bad token"}`, http.StatusUnauthorized)
		return
	}
	q := r.URL.Query().Get("q")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"web": map[string]any{"results": []map[string]string{
		{"title": "Result for " + q, "url": "https://example.com/1", "description": "first"},
		{"title": "Second", "url": "https://example.com/2", "description": "second"},
	}}})
}

// fakeSMTP is an in-process SMTP server that keeps what it receives.
type fakeSMTP struct {
	port string
	mu   sync.Mutex
	msgs []mail
}

type mail struct {
	From string
	To   []string
	Data string
}

func (f *fakeSMTP) received() []mail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mail(nil), f.msgs...)
}

func startSMTP(tb testing.TB) *fakeSMTP {
	tb.Helper()
	f := &fakeSMTP{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{f: f}, nil }))
	s.AllowInsecureAuth = true
	s.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	_, f.port, _ = net.SplitHostPort(ln.Addr().String())
	go s.Serve(ln)
	tb.Cleanup(func() { s.Close() })
	return f
}

type smtpSession struct {
	f    *fakeSMTP
	auth bool
	m    mail
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "mailer" || pass != "smtp-pass" {
			return errors.New("bad credentials")
		}
		s.auth = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return errors.New("authentication required")
	}
	s.m.From = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.Data = string(b)
	s.f.mu.Lock()
	s.f.msgs = append(s.f.msgs, s.m)
	s.f.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.m = mail{} }
func (s *smtpSession) Logout() error { return nil }

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
