package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sim"
)

const demoHelp = `Shows the whole product in a minute, without an Anthropic account. It
starts a gateway together with what it talks to — a Managed Agents API
simulator playing the setup guide's scenario, a stand-in web search engine
and a mail sink, all on this machine — and walks through the guide: registers
the Anthropic key, creates the agent configuration and a governed session,
then shows the governed search, the observed bash call, the e-mail held for a
human (with the command that approves it) and the compliance summary.

It keeps serving afterwards, so you can run the printed commands and open the
dashboard, until Ctrl-C; --exit ends after the walkthrough. The demo uses its
own SQLite database in a new temporary directory (removed on exit) unless
--data-dir names one, and ignores VARGATE_* settings.`

// Demo constants: the simulator accepts only demoAnthropicKey, so the
// session works only if the key registered in step 1 is the one used.
const (
	demoTenant       = "demo"
	demoAnthropicKey = "sk-ant-demo-not-a-real-key"
	demoSearchKey    = "demo-search-key"
	demoMailFrom     = "research-agent@demo.vargate.invalid"
)

func runDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo", "demo [--listen ADDR] [--data-dir DIR] [--exit]", demoHelp)
	listen := fs.String("listen", "127.0.0.1:8000", "address the gateway listens on")
	dataDir := fs.String("data-dir", "", "data directory (default: a new temporary directory, removed on exit)")
	exit := fs.Bool("exit", false, "end after the walkthrough instead of serving until Ctrl-C")
	stepDelay := fs.Duration("step-delay", 300*time.Millisecond, "pause between two steps of the simulated agent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	out := &demoPrinter{w: env.stdout, tty: isTerminal(env.stdout)}
	start := time.Now()

	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vargate-demo-")
		if err != nil {
			return fmt.Errorf("demo data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo data directory: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("demo log: %w", err)
	}
	defer logFile.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (another gateway running? try --listen 127.0.0.1:8001)", *listen, err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()

	out.printf("Vargate demo — the setup guide end to end on this machine, no Anthropic account needed\n\n")
	out.progress("Starting the simulator, a stand-in search engine, a mail sink and the gateway")
	up, err := startDemoUpstreams(*stepDelay, slog.New(slog.NewJSONHandler(logFile, nil)))
	if err != nil {
		return err
	}
	defer up.Close()

	settings := map[string]string{
		"VARGATE_DATA_DIR":              dir,
		"VARGATE_LISTEN":                ln.Addr().String(),
		"VARGATE_LOG_FORMAT":            "json",
		"VARGATE_BOOTSTRAP_TENANT":      "",
		"VARGATE_MCP_SERVER_URL":        base + "/api/mcp/server",
		"ANTHROPIC_BASE_URL":            up.SimURL,
		"VARGATE_WEB_SEARCH_URL":        up.SearchURL,
		"VARGATE_ALLOW_PRIVATE_TARGETS": "true", // the mail sink is on loopback
	}
	getenv := func(k string) string { return settings[k] }
	cfgFlags := flag.NewFlagSet("demo-config", flag.ContinueOnError)
	cfgFlags.SetOutput(io.Discard)
	cfg, _, err := LoadConfig(cfgFlags, nil, getenv)
	if err != nil {
		return err
	}
	log := newLogger(logFile, cfg)
	a, err := newApp(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("shutdown", slog.Any("error", err))
		}
	}()
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // best effort: the demo is ending
	}()

	key, err := demoAdminKey(ctx, a)
	if err != nil {
		return err
	}
	out.done(time.Since(start))
	out.printf("\n  gateway    %s   (data %s, log %s)\n", base, dir, filepath.Join(dir, "gateway.log"))
	out.printf("  upstream   built-in Managed Agents API simulator at %s, playing the guide's scenario\n", up.SimURL)
	out.printf("  tenant     %q, admin key (shown once):\n\n      export VARGATE_API_KEY=%s\n", demoTenant, key)

	c := &demoClient{base: base + "/api", key: key}
	w := &walkthrough{out: out, c: c, up: up, base: base}
	if err := w.run(ctx); err != nil {
		return err
	}

	if *exit {
		out.printf("\nDone in %s (--exit: stopping the gateway).\n", time.Since(start).Round(100*time.Millisecond))
		return nil
	}
	out.printf("\nThe gateway keeps serving at %s until Ctrl-C. Try:\n", base)
	out.printf("  dashboard  %s/ui/   (sign in with the admin key above)\n", base)
	out.printf("  API        %s/openapi.json   (OpenAPI 3.1)\n", base)
	out.printf("  approve    the curl command of step 6; the e-mail then reaches the demo's mail sink\n")
	for {
		select {
		case m := <-up.Mail():
			out.printf("\n  mail sink: received %q from %s for %s\n", m.Subject, m.From, strings.Join(m.To, ", "))
		case err := <-errc:
			return err
		case <-ctx.Done():
			out.printf("\nStopping.\n")
			return nil
		}
	}
}

// demoAdminKey creates (or finds) the demo tenant and a new admin key.
func demoAdminKey(ctx context.Context, a *app) (string, error) {
	t, err := a.auth.CreateTenant(ctx, demoTenant)
	if vargate.IsKind(err, vargate.KindConflict) {
		tenants, lerr := a.auth.Store.ListTenants(ctx)
		if lerr != nil {
			return "", lerr
		}
		for _, x := range tenants {
			if x.Name == demoTenant {
				t, err = x, nil
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("demo tenant: %w", err)
	}
	_, secret, err := a.auth.CreateKey(ctx, auth.KeyRequest{TenantID: t.ID, Role: vargate.RoleAdmin, Name: "demo"})
	if err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	return secret, nil
}

// walkthrough plays the setup guide's steps against the demo gateway
// through its public API, printing what happens.
type walkthrough struct {
	out  *demoPrinter
	c    *demoClient
	up   *demoUpstreams
	base string
}

func (w *walkthrough) run(ctx context.Context) error {
	out, c := w.out, w.c
	var cred struct {
		ID, Fingerprint string
		Version         int
	}
	out.step(1, "Register the Anthropic API key in the vault")
	if err := c.do(ctx, "POST", "/credentials/register", map[string]any{
		"tool_id": "anthropic", "credential_type": "api_key", "value": demoAnthropicKey,
	}, &cred); err != nil {
		return err
	}
	out.printf("        POST /api/credentials/register → %s (version %d, fingerprint %s); the value is sealed, never returned\n",
		cred.ID, cred.Version, cred.Fingerprint)
	for _, r := range []map[string]any{
		{"tool_id": "vargate_web_search", "credential_type": "api_key", "value": demoSearchKey},
		{"tool_id": "vargate_send_email", "credential_type": "smtp", "value": map[string]any{
			"host": w.up.MailHost, "port": w.up.MailPort, "from": demoMailFrom}},
	} {
		if err := c.do(ctx, "POST", "/credentials/register", r, nil); err != nil {
			return err
		}
	}
	out.printf("        also the keys of the governed tools: web search, and the demo mail sink for vargate_send_email\n")

	out.step(2, "Create the agent configuration (the guide's request)")
	var agentCfg struct {
		ID                   string   `json:"id"`
		AllowedTools         []string `json:"allowed_tools"`
		RequireHumanApproval []string `json:"require_human_approval"`
	}
	if err := c.do(ctx, "POST", "/managed/agents", guideAgentRequest, &agentCfg); err != nil {
		return err
	}
	out.printf("        %s \"Research Assistant\": tools %s; a human approves %s\n",
		agentCfg.ID, strings.Join(agentCfg.AllowedTools, ", "), strings.Join(agentCfg.RequireHumanApproval, ", "))

	out.step(4, "Create a governed session")
	var sess struct {
		SessionID          string `json:"session_id"`
		AnthropicSessionID string `json:"anthropic_session_id"`
		SystemPromptHash   string `json:"system_prompt_hash"`
		MCPServerURL       string `json:"mcp_server_url"`
	}
	if err := c.do(ctx, "POST", "/managed/sessions", map[string]any{
		"agent_id":     agentCfg.ID,
		"user_message": "Research the latest trends in enterprise AI governance and draft a summary report.",
	}, &sess); err != nil {
		return err
	}
	out.printf("        %s (Anthropic session %s)\n        system prompt hash %s\n        Vargate registered itself as the agent's MCP server: %s\n",
		sess.SessionID, sess.AnthropicSessionID, sess.SystemPromptHash, sess.MCPServerURL)

	out.step(5, "Monitor the session: the agent works, Vargate governs and observes")
	status, err := w.watch(ctx, sess.SessionID)
	if err != nil {
		return err
	}
	out.printf("        status %s — governed %d, observed %d, denied %d, pending %d\n",
		status.Status, status.Governed, status.Observed, status.Denied, status.Pending)

	out.step(6, "Handle the approval")
	var list struct {
		Approvals []struct {
			ID        string          `json:"id"`
			Tool      string          `json:"tool"`
			Redacted  json.RawMessage `json:"arguments_redacted"`
			Reasons   []string        `json:"reasons"`
			ExpiresAt time.Time       `json:"expires_at"`
		} `json:"approvals"`
	}
	if err := c.do(ctx, "GET", "/approvals?session_id="+url.QueryEscape(sess.SessionID), nil, &list); err != nil {
		return err
	}
	if len(list.Approvals) == 0 {
		out.printf("        nothing is waiting for a human\n")
	}
	for _, p := range list.Approvals {
		// The demo's key decides: it is shown the exact arguments (the
		// listing has only the redacted ones), hidden characters escaped.
		var one struct {
			Arguments json.RawMessage `json:"arguments"`
		}
		shown := p.Redacted
		if err := c.do(ctx, "GET", "/approvals/"+url.PathEscape(p.ID), nil, &one); err == nil && len(one.Arguments) > 0 {
			shown = one.Arguments
		}
		var args struct{ To, Subject string }
		_ = json.Unmarshal(shown, &args) // shown only when it has these fields
		args.To, _ = approval.EscapeHidden(args.To)
		args.Subject, _ = approval.EscapeHidden(args.Subject)
		out.printf("        action %s: %s to %s, %q\n        held because: %s\n        it expires at %s. Approve it (the e-mail goes to the demo's mail sink):\n\n",
			p.ID, p.Tool, args.To, args.Subject, strings.Join(p.Reasons, "; "), p.ExpiresAt.Local().Format("2006-01-02 15:04"))
		out.printf("          curl -X POST %s/api/approve/%s \\\n            -H \"X-API-Key: $VARGATE_API_KEY\"\n\n", w.base, p.ID)
		out.printf("        or reject it, and the agent is told why:\n\n")
		out.printf("          curl -X POST %s/api/reject/%s \\\n            -H \"X-API-Key: $VARGATE_API_KEY\" -H \"Content-Type: application/json\" \\\n            -d '{\"reason\": \"External email not permitted for this task\"}'\n",
			w.base, p.ID)
	}

	out.step(7, "Emergency interrupt (not run here: it would end the session before you decide)")
	out.printf("          curl -X POST %s/api/managed/sessions/%s/interrupt \\\n            -H \"X-API-Key: $VARGATE_API_KEY\" -H \"Content-Type: application/json\" \\\n            -d '{\"reason\": \"Agent attempted to access production database credentials\"}'\n",
		w.base, sess.SessionID)

	out.step(8, "Review the compliance artifacts")
	var comp struct {
		Summary struct {
			TotalEvents   int     `json:"total_events"`
			GovernedCalls int     `json:"governed_calls"`
			ObservedCalls int     `json:"observed_calls"`
			Denials       int     `json:"denials"`
			DenialRate    float64 `json:"denial_rate"`
			Anomalies     int     `json:"anomalies"`
			Approvals     struct {
				Requested int `json:"requested"`
				Pending   int `json:"pending"`
			} `json:"approvals"`
		} `json:"summary"`
		Session struct {
			DurationSeconds float64 `json:"duration_seconds"`
		} `json:"session"`
		Chain struct {
			Valid          bool   `json:"valid"`
			RecordsChecked int    `json:"records_checked"`
			TreeSize       int    `json:"tree_size"`
			RootHash       string `json:"root_hash"`
		} `json:"chain_verification"`
		Controls map[string]json.RawMessage `json:"agcs_controls"`
	}
	if err := c.do(ctx, "GET", "/managed/sessions/"+sess.SessionID+"/compliance", nil, &comp); err != nil {
		return err
	}
	s := comp.Summary
	out.printf("        %d events in %.1fs: %d governed calls, %d observed, %d denied (denial rate %g), %d anomalies\n",
		s.TotalEvents, comp.Session.DurationSeconds, s.GovernedCalls, s.ObservedCalls, s.Denials, s.DenialRate, s.Anomalies)
	out.printf("        approval queue: %d requested, %d waiting for a human\n", s.Approvals.Requested, s.Approvals.Pending)
	verdict := "INVALID"
	if comp.Chain.Valid {
		verdict = "valid"
	}
	out.printf("        hash chain %s: %d records checked, tree of %d, root %.16s…; %d AGCS controls mapped\n",
		verdict, comp.Chain.RecordsChecked, comp.Chain.TreeSize, comp.Chain.RootHash, len(comp.Controls))
	out.printf("        the full export (timeline, proofs, EU AI Act mapping; ?format=html for a report):\n\n")
	out.printf("          curl %s/api/managed/sessions/%s/compliance \\\n            -H \"X-API-Key: $VARGATE_API_KEY\"\n", w.base, sess.SessionID)
	return nil
}

// demoStatus is the part of the session status the demo shows.
type demoStatus struct {
	Status   string `json:"status"`
	Governed int    `json:"total_governed_calls"`
	Observed int    `json:"total_observed_calls"`
	Denied   int    `json:"total_denied"`
	Pending  int    `json:"total_pending"`
}

// watch prints the session's audit records as they arrive until the
// session is no longer active, with a progress line meanwhile.
func (w *walkthrough) watch(ctx context.Context, id string) (demoStatus, error) {
	var after int64
	started := time.Now()
	deadline := started.Add(3 * time.Minute)
	running := map[string]string{} // governed lines waiting for their outcome
	for {
		var page struct {
			Events []struct {
				Seq      int64           `json:"seq"`
				Source   string          `json:"source"`
				ActionID string          `json:"action_id"`
				Tool     string          `json:"tool"`
				Decision string          `json:"decision"`
				Outcome  string          `json:"outcome"`
				Args     json.RawMessage `json:"args_redacted"`
				Detail   json.RawMessage `json:"detail"`
			} `json:"events"`
		}
		if err := w.c.do(ctx, "GET", fmt.Sprintf("/managed/sessions/%s/audit?after=%d&limit=200", id, after), nil, &page); err != nil {
			return demoStatus{}, err
		}
		for _, e := range page.Events {
			after = e.Seq
			switch e.Source {
			case "mcp_governed":
				line := fmt.Sprintf("governed  %-20s policy: %s", e.Tool, e.Decision)
				switch e.Outcome {
				case "executing": // its mcp_outcome record says how it ended
					running[e.ActionID] = line
					continue
				case "pending_approval":
					line += " → held for a human"
				case "":
				default:
					line += " → " + e.Outcome
				}
				w.out.event(line)
			case "mcp_outcome":
				if line, ok := running[e.ActionID]; ok {
					delete(running, e.ActionID)
					w.out.event(line + " → " + e.Outcome)
				}
			case "mcp_observed":
				w.out.event(fmt.Sprintf("observed  %-20s %s", e.Tool, shortArgs(e.Args)))
			case "credential":
				if e.Tool != "anthropic" {
					w.out.event(fmt.Sprintf("vault     %-20s credential released to the connector for this call (audited)", e.Tool))
				}
			case "session":
				w.out.event(fmt.Sprintf("session   %s", e.Decision))
			}
		}
		var st demoStatus
		if err := w.c.do(ctx, "GET", "/managed/sessions/"+id+"/status", nil, &st); err != nil {
			return demoStatus{}, err
		}
		if st.Status != "active" && len(page.Events) == 0 {
			w.out.clearProgress()
			return st, nil
		}
		if time.Now().After(deadline) {
			w.out.clearProgress()
			return st, fmt.Errorf("the session is still %s after %s", st.Status, time.Since(started).Round(time.Second))
		}
		w.out.working(time.Since(started), st)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// shortArgs shows a built-in tool's input on one line.
func shortArgs(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	s, ok := m["command"].(string)
	if !ok {
		b, _ := json.Marshal(m)
		s = string(b)
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}

// guideAgentRequest is the body of the guide's step 2.
var guideAgentRequest = map[string]any{
	"name":                   "Research Assistant",
	"anthropic_model":        "claude-sonnet-4-6",
	"system_prompt":          "You are a research assistant that helps analysts find and summarize information.",
	"allowed_tools":          []string{"vargate_web_search", "vargate_send_email", "vargate_read_database"},
	"require_human_approval": []string{"vargate_send_email"},
	"max_session_hours":      4.0,
	"max_daily_sessions":     20,
	"max_delegation_depth":   1,
	"governance_profile":     map[string]any{"risk_level": "standard", "pii_detection": true},
}

// demoClient calls the demo gateway's API with the demo admin key.
type demoClient struct {
	base, key string
}

var demoHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *demoClient) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := demoHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// demoPrinter writes the walkthrough. On a terminal, long waits show a
// progress line that is redrawn in place.
type demoPrinter struct {
	w        io.Writer
	tty      bool
	mu       sync.Mutex
	progLine bool
	said     bool // the non-terminal progress note was printed
}

func (p *demoPrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintf(p.w, format, args...)
}

func (p *demoPrinter) step(n int, title string) {
	p.printf("\nStep %d  %s\n", n, title)
	p.said = false
}

func (p *demoPrinter) event(line string) { p.printf("        %s\n", line) }

// progress starts a long step: "what… " now, done() finishes the line.
func (p *demoPrinter) progress(what string) { p.printf("%s… ", what) }

func (p *demoPrinter) done(d time.Duration) {
	p.printf("done (%s)\n", d.Round(10*time.Millisecond))
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// working shows that the agent is still at work.
func (p *demoPrinter) working(elapsed time.Duration, st demoStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		if !p.said {
			fmt.Fprintf(p.w, "        (the simulated agent is working; its calls appear as Vargate records them)\n")
			p.said = true
		}
		return
	}
	frame := spinner[int(elapsed/(100*time.Millisecond))%len(spinner)]
	fmt.Fprintf(p.w, "\r\033[K        %s agent working %4.1fs — status %s, governed %d, observed %d, pending %d",
		frame, elapsed.Seconds(), st.Status, st.Governed, st.Observed, st.Pending)
	p.progLine = true
}

func (p *demoPrinter) clearProgress() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *demoPrinter) clearLocked() {
	if p.progLine {
		fmt.Fprint(p.w, "\r\033[K")
		p.progLine = false
	}
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// demoUpstreams are the services around a gateway, built in: the Managed
// Agents API simulator (accepting only demoAnthropicKey), a web search
// engine in the Brave API's shape (demoSearchKey) and an SMTP mail sink.
// The end-to-end tests use them too.
type demoUpstreams struct {
	Sim       *sim.Server
	SimURL    string
	SearchURL string
	MailHost  string
	MailPort  int

	mail    chan demoMail
	closers []func() error
}

// demoMail is a message the mail sink received.
type demoMail struct {
	From    string
	To      []string
	Subject string
}

func startDemoUpstreams(stepDelay time.Duration, log *slog.Logger) (u *demoUpstreams, err error) {
	u = &demoUpstreams{mail: make(chan demoMail, 16)}
	defer func() {
		if err != nil {
			u.Close()
		}
	}()
	s, err := sim.New(sim.Options{APIKey: demoAnthropicKey, StepDelay: stepDelay, Logger: log})
	if err != nil {
		return nil, err
	}
	u.Sim = s
	if u.SimURL, err = u.serveHTTP(s); err != nil {
		return nil, err
	}
	u.closers = append(u.closers, s.Close) // runs before the HTTP server closes: ends the event streams
	if u.SearchURL, err = u.serveHTTP(http.HandlerFunc(demoSearch)); err != nil {
		return nil, err
	}
	u.SearchURL += "/res/v1/web/search"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mail sink: %w", err)
	}
	ms := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &demoMailSession{sink: u.mail}, nil }))
	ms.Domain = "localhost"
	ms.ReadTimeout, ms.WriteTimeout = 30*time.Second, 30*time.Second
	go func() { _ = ms.Serve(ln) }() // ends with Close
	u.closers = append(u.closers, ms.Close)
	u.MailHost, u.MailPort = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	return u, nil
}

// serveHTTP serves h on a free loopback port and returns its base URL.
func (u *demoUpstreams) serveHTTP(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Close
	u.closers = append(u.closers, srv.Close)
	return "http://" + ln.Addr().String(), nil
}

// Mail delivers what the mail sink receives.
func (u *demoUpstreams) Mail() <-chan demoMail { return u.mail }

// Close stops everything, the simulator first.
func (u *demoUpstreams) Close() error {
	var errs []error
	for i := len(u.closers) - 1; i >= 0; i-- {
		errs = append(errs, u.closers[i]())
	}
	return errors.Join(errs...)
}

// demoSearch answers like the Brave Search API for demoSearchKey, with
// canned results.
func demoSearch(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Subscription-Token") != demoSearchKey {
		http.Error(w, `{"error":"invalid subscription token"}`, http.StatusUnauthorized)
		return
	}
	type result struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		Description string `json:"description"`
	}
	results := []result{
		{"EU AI Act: obligations for general-purpose AI models", "https://example.com/eu-ai-act-gpai",
			"Providers must keep technical documentation, publish a training-data summary and have a copyright policy."},
		{"NIST AI Risk Management Framework", "https://example.com/nist-ai-rmf", "Govern, map, measure and manage AI risks."},
		{"ISO/IEC 42001 AI management systems", "https://example.com/iso-42001", "Requirements for an AI management system."},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"query": map[string]string{"original": r.URL.Query().Get("q")},
		"web": map[string]any{"results": results}})
}

// demoMailSession is one SMTP transaction of the mail sink: it accepts
// any message and reports it.
type demoMailSession struct {
	sink chan<- demoMail
	m    demoMail
}

func (s *demoMailSession) Mail(from string, _ *smtp.MailOptions) error { s.m.From = from; return nil }
func (s *demoMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *demoMailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, msg.Body)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	s.m.Subject = subject
	select {
	case s.sink <- s.m:
	default: // nobody is reading: drop the notice, not the message
	}
	return nil
}

func (s *demoMailSession) Reset()        { s.m = demoMail{} }
func (s *demoMailSession) Logout() error { return nil }
