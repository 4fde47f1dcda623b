package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
)

const serveHelp = `Runs the gateway: the REST API, the MCP server and the event consumers.

Every setting comes from a flag or an environment variable (flag wins).
On first start with an empty database it creates the tenant named by
VARGATE_BOOTSTRAP_TENANT and prints an admin API key once, to stderr.
"vargate serve --print-config" prints the effective settings and exits.`

func runServe(ctx context.Context, env *environment, args []string) error {
	var printConfig bool
	var readyFile string
	cfg, pos, err := loadConfig(env, "serve", "serve [flags]", serveHelp, args, nil, func(fs *flag.FlagSet) {
		fs.BoolVar(&printConfig, "print-config", false, "print the effective configuration (secrets masked) and exit")
		fs.StringVar(&readyFile, "ready-file", "", "write the listening address to this file once serving (for scripts and tests)")
	})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintf(env.stderr, "vargate serve: unexpected argument %q (serve takes only flags; vargate serve --help lists them)\n", pos[0])
		return errUsage
	}
	if printConfig {
		cfg.Print(env.stdout)
		return nil
	}
	log := newLogger(env.stderr, cfg)
	if env.getenv("GOGC") == "" {
		// Each governed call allocates a few hundred KB, most of it in the
		// MCP SDK's JSON decoding, for a live heap of a few tens of MB:
		// at the default GOGC=100 garbage collection takes about a third
		// of the gateway's CPU. 400 trades ~4× the heap growth between
		// collections for ~30 % less CPU per call (docs/BENCHMARKS.md,
		// "Goals vs measured"). GOGC in the environment overrides it.
		debug.SetGCPercent(gcPercent)
	}
	// Listen first: the default MCP server URL, which sessions give to
	// agents, names the port actually taken.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (VARGATE_LISTEN): %w", cfg.Listen, err)
	}
	defer ln.Close()
	if warning := cfg.Listening(ln.Addr()); warning != "" {
		log.Warn(warning)
	}
	a, err := newApp(ctx, cfg, env.getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("shutdown", slog.Any("error", err))
		}
	}()
	if err := bootstrap(ctx, env, a); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		// No WriteTimeout: MCP and event streams stay open; handlers bound
		// their own work.
		IdleTimeout: 120 * time.Second,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("vargate serving", slog.String("addr", ln.Addr().String()), slog.String("version", vargate.Version),
		slog.String("store", storeName(cfg)))
	if readyFile != "" {
		if err := writeFileAtomic(readyFile, []byte(ln.Addr().String())); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// gcPercent is the gateway's garbage-collection target when GOGC is not set.
const gcPercent = 400

func storeName(cfg *Config) string {
	if cfg.UsesPostgres() {
		return "postgres " + maskURL(cfg.DatabaseURL)
	}
	return "sqlite " + cfg.SQLitePath()
}

// bootstrap creates the first tenant and admin key on an empty database so
// a newcomer can call the API at once. The key is printed once and is not
// stored anywhere in readable form.
func bootstrap(ctx context.Context, env *environment, a *app) error {
	if a.cfg.BootstrapTenant == "" {
		return nil
	}
	tenants, err := a.auth.Store.ListTenants(ctx)
	if err != nil {
		return err
	}
	if len(tenants) > 0 {
		a.log.Info("admin key lost? make another with the gateway's database: " + recoverKeyCommand(a.cfg, tenants[0].Name))
		return nil
	}
	t, err := a.auth.CreateTenant(ctx, a.cfg.BootstrapTenant)
	if err != nil {
		if vargate.IsKind(err, vargate.KindConflict) {
			return nil // another gateway on the same database won the race
		}
		return fmt.Errorf("bootstrap tenant: %w", err)
	}
	_, secret, err := a.auth.CreateKey(ctx, auth.KeyRequest{TenantID: t.ID, Role: vargate.RoleAdmin, Name: "bootstrap"})
	if err != nil {
		return fmt.Errorf("bootstrap key: %w", err)
	}
	fmt.Fprintf(env.stderr, `
================================================================
First start: created tenant %q (%s) and an admin API key:

    %s

It is shown only now. Vargate stores only its hash; save it in a
secrets manager, e.g.  export VARGATE_API_KEY=%s
If it is lost, make another (with the gateway's database):
    %s
================================================================

`, t.Name, t.ID, secret, secret, recoverKeyCommand(a.cfg, t.Name))
	return nil
}

// recoverKeyCommand is the command that makes a new admin key for tenant
// on this gateway's database.
func recoverKeyCommand(cfg *Config, tenant string) string {
	if strings.ContainsAny(tenant, " \t'\"$\\") {
		tenant = "'" + strings.ReplaceAll(tenant, "'", `'\''`) + "'"
	}
	cmd := "vargate key create --tenant " + tenant + " --role admin"
	switch {
	case cfg.UsesPostgres():
		cmd = "DATABASE_URL=… " + cmd
	case cfg.DatabaseURL != "":
		cmd += " --database-url " + cfg.DatabaseURL
	case cfg.DataDir != "./data":
		cmd += " --data-dir " + cfg.DataDir
	}
	return cmd
}
