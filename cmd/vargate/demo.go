package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
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
	w := &walkthrough{out: out, c: c, up: up, base: base, exit: *exit}
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
