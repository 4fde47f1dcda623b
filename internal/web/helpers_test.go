package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/web"
	"github.com/vargate/vargate/internal/webhook"
)

// fixture is the dashboard over real capability services on a fresh
// SQLite database, with one tenant and a key of each role.
type fixture struct {
	db     *sqlstore.DB
	auth   *auth.Service
	log    *audit.Log
	vault  *vault.Vault
	agents *agent.Service
	queue  *approval.Service
	exec   *executor
	pol    *sqlstore.PolicyStore
	engine *policy.Engine
	hooks  *webhook.Service
	web    *web.Server
	mux    *http.ServeMux
	ts     *httptest.Server

	tenant                            string
	adminKey, approverKey, auditorKey string
	agentKey                          string
	adminID, approverID, auditorID    string
	agentCfg                          agent.Config
	otherTenant, otherAdminKey        string
}

// executor runs approved actions by recording them, or through next
// (the governor) when set.
type executor struct {
	mu   sync.Mutex
	ran  []string
	next approval.Executor
}

func (e *executor) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	e.mu.Lock()
	e.ran = append(e.ran, a.ID)
	next := e.next
	e.mu.Unlock()
	if next != nil {
		return next.ExecuteApproved(ctx, a)
	}
	return json.RawMessage(`{"sent":true,"to":"jane.doe@example.com"}`), nil
}

func (e *executor) setNext(next approval.Executor) {
	e.mu.Lock()
	e.next = next
	e.mu.Unlock()
}

func (e *executor) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ran)
}

// vaultAuditor records credential operations in the audit log.
type vaultAuditor struct{ log *audit.Log }

func (a vaultAuditor) RecordCredentialAccess(ctx context.Context, r vault.Access) error {
	detail, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = a.log.Append(ctx, audit.Record{TenantID: r.TenantID, Source: audit.SourceCredential, Tool: r.ToolID, Decision: string(r.Op), Detail: detail})
	return err
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{db: storetest.Open(t, sqlstore.SQLite), exec: &executor{}}
	f.pol = sqlstore.NewPolicyStore(f.db)

	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	f.log = audit.New(sqlstore.NewAuditStore(f.db), signer)
	f.log.CheckpointInterval = -1
	if err := f.log.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.log.Close() })

	f.auth = auth.NewService(sqlstore.NewAuthStore(f.db))
	if f.engine, err = policy.NewEngine(ctx, f.pol); err != nil {
		t.Fatal(err)
	}
	keys, err := vault.OpenLocalKeyProvider(filepath.Join(t.TempDir(), "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.vault = vault.New(sqlstore.NewVaultStore(f.db), keys, vaultAuditor{f.log}, nil)
	f.agents = agent.New(sqlstore.NewAgentStore(f.db), f.log)

	f.queue = approval.New(sqlstore.NewApprovalStore(f.db), f.exec, nil)
	f.queue.Auditor = f.log
	f.queue.Sealer = vaulttest.NewSealer()
	f.queue.SweepInterval = -1
	if err := f.queue.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.queue.Close() })

	tn, err := f.auth.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	f.tenant = tn.ID
	f.adminID, f.adminKey = f.key(t, tn.ID, vargate.RoleAdmin, "")
	f.approverID, f.approverKey = f.key(t, tn.ID, vargate.RoleApprover, "")
	f.auditorID, f.auditorKey = f.key(t, tn.ID, vargate.RoleAuditor, "")
	name := "Research Assistant"
	tools := []string{"vargate_web_search", "vargate_send_email"}
	approvals := []string{"vargate_send_*"}
	f.agentCfg, err = f.agents.Create(ctx, tn.ID, f.adminID, agent.Params{Name: &name, AllowedTools: &tools, RequireHumanApproval: &approvals})
	if err != nil {
		t.Fatal(err)
	}
	_, f.agentKey = f.key(t, tn.ID, vargate.RoleAgent, f.agentCfg.ID)

	other, err := f.auth.CreateTenant(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	f.otherTenant = other.ID
	_, f.otherAdminKey = f.key(t, other.ID, vargate.RoleAdmin, "")

	f.hooks = webhook.New(sqlstore.NewWebhookStore(f.db), vaulttest.NewSealer(), nil)
	f.hooks.AllowPrivate = true
	f.hooks.PollInterval = 50 * time.Millisecond
	if err := f.hooks.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.hooks.Close() })

	f.web = &web.Server{
		Keys: f.auth, KeyStore: f.auth.Store, Approvals: f.queue, Audit: f.log, Records: f.log.Store,
		Agents: f.agents, Credentials: f.vault, Policies: &web.PolicyVersions{Store: f.pol, Engine: f.engine, Audit: f.log},
		Webhooks: f.hooks,
	}
	f.mux = http.NewServeMux()
	f.web.Mount(f.mux)
	f.ts = httptest.NewServer(f.mux)
	t.Cleanup(f.ts.Close)
	return f
}

func (f *fixture) key(t *testing.T, tenant string, role vargate.Role, agentID string) (id, secret string) {
	t.Helper()
	k, secret, err := f.auth.CreateKey(t.Context(), auth.KeyRequest{TenantID: tenant, Role: role, AgentID: agentID, Name: string(role)})
	if err != nil {
		t.Fatal(err)
	}
	return k.ID, secret
}

// enqueue queues an action of the tenant as govern would.
func (f *fixture) enqueue(t *testing.T, tool string, args string) approval.Action {
	t.Helper()
	a, err := f.queue.Enqueue(t.Context(), approval.Request{
		TenantID: f.tenant, SessionID: "vs-0123456789abcdef", AgentID: f.agentCfg.ID, Tool: tool,
		Args: json.RawMessage(args), ArgsDigest: policy.Digest(json.RawMessage(args)),
		ArgsRedacted:  json.RawMessage(`{"to":"[REDACTED:email]","subject":"Quarterly report"}`),
		PolicyVersion: "base", DecisionID: "dec-1", Reasons: []string{"requires_approval: vargate_send_email needs a human"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// browser is an HTTP client with a cookie jar, as a browser would be.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: f.ts.URL, client: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its body read.
type page struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the forms on the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("GET %s: no CSRF token on the page (status %d)", path, p.status)
	}
	return html.UnescapeString(m[1])
}

// signIn signs in with key and fails the test unless it works.
func (b *browser) signIn(key string) {
	b.t.Helper()
	p := b.tryLogin(key)
	if p.status != http.StatusSeeOther || p.location != "/ui/" {
		b.t.Fatalf("sign in: status %d location %q, want 303 to /ui/\n%s", p.status, p.location, p.body)
	}
}

func (b *browser) tryLogin(key string) page {
	b.t.Helper()
	tok := b.csrf("/ui/login")
	return b.post("/ui/login", url.Values{"csrf_token": {tok}, "api_key": {key}})
}

// httptestServer serves h on a local port until the test ends and returns
// its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
