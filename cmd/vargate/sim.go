package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/sim"
)

const simHelp = `Serves a local simulator of Anthropic's Managed Agents API (beta
managed-agents-2026-04-01): agents, environments, vaults and credentials,
sessions, events and the event stream, with the real paths, fields and
errors. Point the official SDK (or the gateway) at it with
ANTHROPIC_BASE_URL=http://ADDR, or option.WithBaseURL. Requests need an API
key (x-api-key or Authorization: Bearer; any non-empty key unless --api-key
is set), anthropic-version, and anthropic-beta: managed-agents-2026-04-01.

--scenario FILE registers a scenario file and makes it the default.

` + sim.ScenarioHelp

func runSim(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "sim", "sim [--listen ADDR] [--api-key KEY] [--scenario FILE] [flags]", simHelp)
	listen := fs.String("listen", "127.0.0.1:8788", "address to serve on")
	apiKey := fs.String("api-key", "", "the only API key accepted (default: any non-empty key)")
	scenarioFile := fs.String("scenario", "", "scenario file (JSON or YAML) to register and play by default")
	stepDelay := fs.Duration("step-delay", sim.DefaultStepDelay, "pause between two steps of the scripted agent")
	timeScale := fs.Float64("time-scale", 1, "factor applied to the durations written in scenarios")
	heartbeat := fs.Duration("heartbeat", sim.DefaultHeartbeatInterval, "interval of ping frames on event streams")
	readyFile := fs.String("ready-file", "", "write the listening address to this file once serving (for scripts and tests)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(*logLevel))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if *timeScale <= 0 {
		return fmt.Errorf("--time-scale must be positive")
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))

	opts := sim.Options{
		APIKey: *apiKey, StepDelay: *stepDelay, TimeScale: *timeScale, HeartbeatInterval: *heartbeat, Logger: log,
	}
	if *stepDelay == 0 {
		opts.StepDelay = -1 // the flag's zero means no pause, not the default
	}
	if *scenarioFile != "" {
		sc, err := sim.LoadScenario(*scenarioFile)
		if err != nil {
			return err
		}
		opts.Scenarios, opts.DefaultScenario = []sim.Scenario{sc}, sc.Name
	}
	s, err := sim.New(opts)
	if err != nil {
		return err
	}
	defer s.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: event streams stay open.
		IdleTimeout: 120 * time.Second,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("managed agents simulator serving",
		slog.String("addr", ln.Addr().String()),
		slog.String("base_url", "http://"+ln.Addr().String()),
		slog.String("default_scenario", defaultName(opts)),
		slog.String("scenarios", strings.Join(s.ScenarioNames(), ",")))
	if *readyFile != "" {
		if err := writeFileAtomic(*readyFile, []byte(ln.Addr().String())); err != nil {
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
	log.Info("shutting down")
	// Close the simulator first: it ends the event streams, which Shutdown
	// would otherwise wait for.
	if err := s.Close(); err != nil {
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func defaultName(opts sim.Options) string {
	if opts.DefaultScenario != "" {
		return opts.DefaultScenario
	}
	return sim.DefaultScenarioName
}
