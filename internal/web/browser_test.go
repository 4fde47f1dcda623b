package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/web"
)

// browserTimeout bounds a whole browser test (about 30 s alone, 80 s under
// -race; CI shares the machine with every other package).
const browserTimeout = 6 * time.Minute

// chromium returns the Chromium to drive. Without one the test is skipped,
// except under CI=true, where the browser tests must run.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VARGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no Chromium found: install Debian's chromium package (or set VARGATE_CHROMIUM)")
	}
	t.Skip("no Chromium installed (apt-get install chromium); skipping the browser tests")
	return ""
}

// newTab starts headless Chromium and returns a context for its first tab.
// New tabs of the same browser (sharing its cookies) come from
// chromedp.NewContext(tab).
func newTab(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}

// shot writes a full-page screenshot of the tab for review: into the
// test's temporary directory, and into $VARGATE_SCREENSHOTS when set.
func shot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("VARGATE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs browser actions and fails the test with what it was doing.
func run(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, actions...); err != nil {
		loc, _ := chromedp.Run(tab, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// value runs one browser action that returns a value.
func value[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tab, a)
	if err != nil {
		loc, _ := chromedp.Run(tab, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
	return v
}

// css is a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// anthropicKey is the key the simulator accepts.
const anthropicKey = "sk-ant-dashboard-test"

type simKeys struct{}

func (simKeys) AnthropicKey(context.Context, string, vault.Purpose) (vault.Secret, error) {
	return vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", anthropicKey), nil
}

// pendingActions counts a session's unsettled actions for the session
// service, as cmd adapts the approval queue.
type pendingActions struct{ q *approval.Service }

func (p pendingActions) PendingActions(ctx context.Context, tenantID, sessionID string) (int, error) {
	acts, err := p.q.List(ctx, tenantID, approval.Filter{SessionID: sessionID, Limit: approval.MaxListLimit})
	n := 0
	for _, a := range acts {
		if !a.Status.Final() {
			n++
		}
	}
	return n, err
}

// dashboardScenario searches, runs a built-in tool, asks to send an
// e-mail (which needs approval) and ends its turn; told the outcome, it
// answers and keeps working, so that it can be interrupted.
var dashboardScenario = sim.Scenario{Name: "dashboard", Steps: []sim.Step{
	{Type: sim.StepMessage, Text: "Looking for the quarterly report."},
	{Type: sim.StepMCPTool, Name: "vargate_web_search", Input: map[string]any{"query": "acme quarterly report"}},
	{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "ls -la reports/"}, Result: "q3.pdf"},
	{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "cat /etc/passwd"}, Result: "root:x:0:0:root:/root:/bin/bash"},
	{Type: sim.StepMCPTool, Name: "vargate_send_email", Input: map[string]any{
		"to": "jane.doe@example.com", "subject": "Quarterly report", "body": "Hi Jane, the report is attached. Call me on +1 415 555 0100."}},
	{Type: sim.StepMessage, Text: "The e-mail waits for approval."},
	{Type: sim.StepEndTurn},
	{Type: sim.StepMessage, Text: "Noted the outcome; carrying on."},
	{Type: sim.StepWait, Duration: sim.Duration(10 * time.Minute)},
	{Type: sim.StepEndTurn},
}}

// gateway is the fixture plus the governed path an agent takes: the
// simulator as Anthropic, the session service, the MCP server and the
// governor over the same approval queue and audit log the dashboard reads.
type gateway struct {
	*fixture
	sessions *session.Service
	gov      *govern.Governor
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	f := newFixture(t)
	g := &gateway{fixture: f}

	s, err := sim.New(sim.Options{APIKey: anthropicKey, StepDelay: 100 * time.Millisecond, Scenarios: []sim.Scenario{dashboardScenario},
		DefaultScenario: dashboardScenario.Name, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	simTS := httptestServer(t, s)
	t.Cleanup(func() { _ = s.Close() })

	// Connectors answer at once; what matters here is the governance
	// around them.
	search := *tools.NewWebSearchTool(&tools.WebSearchConnector{})
	search.Connector = tools.ConnectorFunc(func(context.Context, *tools.Call) (tools.Result, error) {
		return tools.Result{Structured: json.RawMessage(`{"results":[{"title":"Acme Q3 report","url":"https://example.com/q3.pdf"}]}`)}, nil
	})
	email := *tools.NewSendEmailTool(&tools.EmailConnector{})
	email.Connector = tools.ConnectorFunc(func(context.Context, *tools.Call) (tools.Result, error) {
		return tools.Result{Structured: json.RawMessage(`{"sent":true,"message_id":"<q3@acme.example>"}`)}, nil
	})
	catalog := tools.NewCatalog(&search, &email)

	upstream := &session.Upstream{BaseURL: simTS, Keys: simKeys{}}
	g.sessions = session.New(sqlstore.NewSessionStore(f.db), f.agents, upstream, f.log, f.ts.URL+mcpserver.Path)
	g.sessions.Pending = pendingActions{f.queue}
	t.Cleanup(func() { _ = g.sessions.Close() })
	f.auth.Sessions = g.sessions

	// The event consumer audits built-in tool calls with their anomaly
	// verdicts and interrupts sessions.
	obs := observe.New(sqlstore.NewObserveStore(f.db), observe.SessionUpstream{Upstream: upstream}, f.log, nil)
	obs.Lifecycle, obs.Configs, obs.Policy, obs.Approvals, obs.AuditReader = g.sessions, f.agents, f.engine, f.queue, f.log.Store
	obs.InterruptWait = 5 * time.Second
	if err := obs.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = obs.Close() })
	g.sessions.Observer = obs

	g.gov = govern.New(catalog, g.sessions, f.engine, f.log, nil)
	g.gov.Queue = f.queue
	catalog.Add(g.gov.ApprovalStatusTool())
	f.exec.setNext(g.gov)
	f.queue.Notifier = g.sessions

	(&mcpserver.Server{Governor: g.gov, Auth: f.auth}).Mount(f.mux)
	f.web.Sessions = g.sessions
	f.web.Interrupter = web.InterruptFunc(func(ctx context.Context, p vargate.Principal, id, reason string) error {
		_, err := obs.Interrupt(ctx, p, id, reason)
		return err
	})
	f.web.Compliance = compliance.New(g.sessions, f.agents, sqlstore.NewSessionStore(f.db), f.log, f.engine)
	return g
}

// pendingOf waits for the session's pending action and returns it.
func (g *gateway) pendingOf(t *testing.T, sessionID string) approval.Action {
	t.Helper()
	var acts []approval.Action
	testwait.For(t, 90*time.Second, "session "+sessionID+" to queue an action", func() bool {
		var err error
		acts, err = g.queue.List(t.Context(), g.tenant, approval.Filter{SessionID: sessionID, Status: approval.StatusPending})
		if err != nil {
			t.Fatal(err)
		}
		return len(acts) > 0
	})
	return acts[0]
}

// TestBrowserApprovalFlow drives the dashboard in headless Chromium: sign
// in, watch a simulated session queue an e-mail for approval, approve it
// on the approvals page while the session page (another tab) shows the
// timeline move, then interrupt the session. It writes a screenshot of
// each main page.
func TestBrowserApprovalFlow(t *testing.T) {
	tab := newTab(t)
	g := newGateway(t)
	base := g.ts.URL

	// The dashboard's first page is the sign-in.
	run(t, tab, "open the dashboard",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`#api_key`)),
	)
	shot(t, tab, "01-login")
	run(t, tab, "sign in",
		chromedp.SendKeys(css(`#api_key`), g.adminKey),
		chromedp.Submit(css(`#api_key`)),
		chromedp.WaitVisible(css(`.topbar`)),
	)

	// A simulated session starts; its e-mail lands in the queue that the
	// overview shows live.
	sess, err := g.sessions.Create(t.Context(), session.CreateRequest{TenantID: g.tenant, AgentID: g.agentCfg.ID,
		UserMessage: "Send Jane the quarterly report.", Actor: g.adminID})
	if err != nil {
		t.Fatal(err)
	}
	act := g.pendingOf(t, sess.ID)
	run(t, tab, "see the queued action on the overview",
		chromedp.WaitVisible(css(`#action-`+act.ID)),
	)
	shot(t, tab, "02-overview")

	run(t, tab, "open the sessions list",
		chromedp.Navigate(base+"/ui/sessions"),
		chromedp.WaitVisible(css(`a[href="/ui/sessions/`+sess.ID+`"]`)),
	)
	shot(t, tab, "03-sessions")

	// The session page, left open in the first tab.
	run(t, tab, "open the session",
		chromedp.Navigate(base+"/ui/sessions/"+sess.ID),
		chromedp.WaitVisible(css(`#timeline li.ev`)),
	)
	before := value(t, tab, "count the timeline", chromedp.Evaluate[int](`document.querySelectorAll('#timeline li.ev').length`))
	shot(t, tab, "04-session")

	// Approve in a second tab.
	approvals, cancel := chromedp.NewContext(tab)
	defer cancel()
	card := `#action-` + act.ID
	run(t, approvals, "open the approvals page",
		chromedp.Navigate(base+"/ui/approvals"),
		chromedp.WaitVisible(css(card)),
	)
	shot(t, approvals, "05-approvals")
	run(t, approvals, "approve",
		chromedp.SendKeys(css(card+` input[name=reason]`), "Recipient and attachment checked"),
		chromedp.Click(css(card+` button[data-action=approve]`)),
		chromedp.WaitVisible(css(`.flash-ok`)),
	)
	flash := value(t, approvals, "read the message", chromedp.Text(css(`.flash-ok`)))
	if !strings.Contains(flash, "it ran") {
		t.Errorf("after approving: %q", flash)
	}
	got, err := g.queue.Get(t.Context(), g.tenant, act.ID)
	if err != nil || got.Status != approval.StatusExecuted || got.DecidedBy != g.adminID {
		t.Fatalf("action %s by %q (%v), want executed by %s", got.Status, got.DecidedBy, err, g.adminID)
	}
	shot(t, approvals, "06-approvals-after")
	run(t, approvals, "open the action", chromedp.Navigate(base+"/ui/approvals/"+act.ID), chromedp.WaitVisible(css(`.history`)))
	shot(t, approvals, "07-action")

	// Back in the first tab, without a reload, the timeline shows the
	// approval and the execution.
	run(t, tab, "see the timeline update",
		chromedp.Poll[chromedp.Void](`(() => {
			const t = document.getElementById('timeline');
			return t.querySelector('li.ev-new') !== null && t.textContent.includes('executed');
		})()`, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(200*time.Millisecond)),
	)
	after := value(t, tab, "count the timeline", chromedp.Evaluate[int](`document.querySelectorAll('#timeline li.ev').length`))
	if after <= before {
		t.Errorf("timeline has %d entries after the approval, %d before", after, before)
	}
	shot(t, tab, "08-session-live")

	// Interrupt it.
	run(t, tab, "interrupt the session",
		chromedp.SendKeys(css(`#interrupt-reason`), "Stopping after the report went out"),
		chromedp.Click(css(`form[action$="/interrupt"] button`)),
		chromedp.WaitVisible(css(`.flash-ok`)),
	)
	status := value(t, tab, "read the status", chromedp.Text(css(`#session-status`)))
	if status != "interrupted" {
		t.Errorf("status shown after the interrupt: %q", status)
	}
	if s, err := g.sessions.Get(t.Context(), g.tenant, sess.ID); err != nil || s.Status != session.StatusInterrupted {
		t.Errorf("session is %s (%v), want interrupted", s.Status, err)
	}
	shot(t, tab, "09-session-interrupted")

	// The observed calls are on the timeline, the flagged one marked.
	if n := value(t, tab, "count flagged events", chromedp.Evaluate[int](`document.querySelectorAll('#timeline li.ev-flagged').length`)); n != 1 {
		t.Errorf("%d flagged timeline entries, want 1 (cat /etc/passwd)", n)
	}
	run(t, tab, "replay against the base policy",
		chromedp.SetValue(css(`#replay-version`), "base"),
		chromedp.Submit(css(`#replay-version`)),
		chromedp.WaitVisible(css(`#replay-result`)),
	)
	shot(t, tab, "10-session-replay")

	// The compliance export downloads as JSON and as an HTML report.
	hb := g.browser(t)
	hb.signIn(g.auditorKey)
	for _, format := range []string{"json", "html"} {
		p := hb.get("/ui/sessions/" + sess.ID + "/export?format=" + format)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("export %s: %d, disposition %q", format, p.status, p.header.Get("Content-Disposition"))
		}
		if format == "json" {
			var doc struct {
				Format string `json:"format"`
			}
			if err := json.Unmarshal([]byte(p.body), &doc); err != nil || doc.Format != compliance.ExportFormat {
				t.Errorf("JSON export: format %q (%v)", doc.Format, err)
			}
		} else if !strings.Contains(p.body, sess.ID) {
			t.Error("the HTML report does not name the session")
		}
	}

	// Settings, filled in through their forms.
	receiver := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	run(t, tab, "save a webhook",
		chromedp.Navigate(base+"/ui/settings/webhook"),
		chromedp.SendKeys(css(`input[name=url]`), receiver+"/hooks/vargate"),
		chromedp.Click(css(`input[value="action.pending_approval"]`)),
		chromedp.Click(css(`input[value="session.interrupted"]`)),
		chromedp.Submit(css(`input[name=url]`)),
		chromedp.WaitVisible(css(`#new-secret`)),
	)
	if secret := value(t, tab, "read the secret", chromedp.Text(css(`#new-secret`))); !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("signing secret shown: %q", secret)
	}
	shot(t, tab, "14-webhook-secret")
	run(t, tab, "send a test ping",
		chromedp.Click(css(`form[action$="/webhook/test"] button`)),
		chromedp.WaitVisible(css(`.flash-ok`)),
		chromedp.WaitVisible(css(`table`)),
	)
	shot(t, tab, "15-webhook")

	run(t, tab, "register a credential",
		chromedp.Navigate(base+"/ui/settings/credentials"),
		chromedp.SendKeys(css(`input[name=tool_id]`), "vargate_web_search"),
		chromedp.SendKeys(css(`textarea[name=value]`), "BSA-test-key-0123456789"),
		chromedp.Submit(css(`input[name=tool_id]`)),
		chromedp.WaitVisible(css(`.flash-ok`)),
	)
	shot(t, tab, "16-credentials")

	run(t, tab, "upload a policy version",
		chromedp.Navigate(base+"/ui/policies"),
		chromedp.SendKeys(css(`input[name=label]`), "v1"),
		chromedp.SetValue(css(`textarea[name=source]`), samplePolicy),
		chromedp.Submit(css(`input[name=label]`)),
		chromedp.WaitVisible(css(`.tests`)),
	)
	shot(t, tab, "17-policies")

	// An auditor, in a separate browser profile, sees the queue but no
	// decision buttons, and no interrupt form.
	queued := g.enqueue(t, "vargate_send_email", `{"to":"ops@example.com","subject":"Weekly digest"}`)
	auditor, cancelAuditor := chromedp.NewContext(tab, chromedp.WithNewBrowserContext())
	defer cancelAuditor()
	run(t, auditor, "sign in as the auditor",
		chromedp.Navigate(base+"/ui/login"),
		chromedp.SendKeys(css(`#api_key`), g.auditorKey),
		chromedp.Submit(css(`#api_key`)),
		chromedp.WaitVisible(css(`.topbar`)),
		chromedp.Navigate(base+"/ui/approvals"),
		chromedp.WaitVisible(css(`#action-`+queued.ID)),
	)
	if n := value(t, auditor, "count decision buttons", chromedp.Evaluate[int](`document.querySelectorAll('button[data-action]').length`)); n != 0 {
		t.Errorf("the auditor sees %d decision buttons", n)
	}
	shot(t, auditor, "18-auditor-approvals")
	run(t, auditor, "open the session as the auditor", chromedp.Navigate(base+"/ui/sessions/"+sess.ID), chromedp.WaitVisible(css(`#timeline`)))
	if n := value(t, auditor, "look for the interrupt form", chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/interrupt"]').length`)); n != 0 {
		t.Error("the auditor sees the interrupt form")
	}

	// The other main pages, for review.
	for _, p := range []struct{ name, path, wait string }{
		{"10-audit", "/ui/audit?source=mcp_observed", "#chain-status"},
		{"11-agents", "/ui/agents", "table"},
		{"12-agent", "/ui/agents/" + g.agentCfg.ID, "form"},
		{"13-keys", "/ui/settings/keys", "table"},
	} {
		run(t, tab, "open "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(css(p.wait)))
		shot(t, tab, p.name)
	}
}

// samplePolicy is a tenant policy version with one rule and its test.
const samplePolicy = `package vargate.tenant

require_approval contains "large_amount: charges above 5000 need a human" if {
	input.call.tool == "vargate_create_charge"
	input.call.arguments.amount > 5000
}

test_large_charge_needs_approval if {
	r := data.vargate.base.result with input as {
		"agent": {"allowed_tools": ["vargate_create_charge"]},
		"call": {"tool": "vargate_create_charge", "arguments": {"amount": 9000}},
		"pii": [], "time": "2026-04-11T10:00:00Z",
	}
	"large_amount: charges above 5000 need a human" in r.require_approval
}
`
