package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/web"
	"github.com/vargate/vargate/internal/webhook"
)

// app is the wired gateway: every component built from one Config. Only
// cmd knows how the pieces fit together.
type app struct {
	cfg     *Config
	log     *slog.Logger
	db      *sqlstore.DB
	auth    *auth.Service
	audit   *audit.Log
	vault   *vault.Vault
	handler http.Handler
	// mcp is the governed MCP server: tool catalog, governor, endpoint.
	mcp *mcpWiring
	// policy decides with each tenant's active policy version; one engine
	// serves MCP calls, sessions, approvals, replay and /policies, so an
	// activation holds for all of them at once.
	policy *policy.Engine
	// closers run in reverse order on Close, after the HTTP server stopped.
	closers []func() error

	// agents and sessions are the managed-agent control plane.
	agents   *agent.Service
	sessions *session.Service

	// approvals is the human-approval queue; webhooks the signed outbox.
	approvals *approval.Service
	webhooks  *webhook.Service
	// observe consumes the sessions' event streams (audit of built-in
	// tools, anomaly interrupts, confirmations, interrupts).
	observe *observe.Service
}

// newApp opens the store and builds every component.
func newApp(ctx context.Context, cfg *Config, getenv func(string) string, log *slog.Logger) (a *app, err error) {
	db, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a = &app{cfg: cfg, log: log, db: db}
	a.closers = append(a.closers, db.Close)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	a.auth = auth.NewService(sqlstore.NewAuthStore(db))

	// The audit log: group-commit writer, signed checkpoints. Its signing
	// key lives with the gateway's other keys in the data directory.
	if a.audit, err = openAuditLog(cfg, db, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.audit.Close)
	// Key and tenant changes and dashboard sign-ins are on the record;
	// the gateway's own (the bootstrap) with the actor "system".
	a.auth.Audit, a.auth.Actor = a.audit, audit.ActorSystem

	v, closeKeys, err := openVault(ctx, cfg, getenv, db, vaultAuditor{a.audit}, log)
	if err != nil {
		return nil, err
	}
	a.vault = v
	a.closers = append(a.closers, closeKeys)

	// Signed webhooks: every capability that emits writes to the outbox;
	// the delivery workers start below, once everything is wired.
	// The vault seals what is not a credential but must not be stored in
	// clear: sensitive approval arguments and results, signing secrets.
	var sealer approval.Sealer = a.vault
	a.webhooks = webhook.New(sqlstore.NewWebhookStore(db), sealer, log)
	a.webhooks.Auditor = a.audit
	a.webhooks.AllowPrivate = cfg.WebhookAllowPrivate
	a.webhooks.Retention = cfg.WebhookRetention

	// Agent configurations and governed sessions: sessions run on the
	// tenant's `anthropic` credential (or ANTHROPIC_API_KEY) against
	// ANTHROPIC_BASE_URL, and their per-session MCP tokens authenticate
	// through auth. Run re-attaches running sessions and sweeps expiry.
	a.agents = agent.New(sqlstore.NewAgentStore(db), a.audit)
	a.auth.Agents = agentLookup{a.agents}
	a.sessions = session.New(sqlstore.NewSessionStore(db), a.agents, &session.Upstream{
		BaseURL:        cfg.AnthropicBaseURL,
		Keys:           session.VaultKeys{Vault: a.vault, Fallback: anthropicFallback(cfg)},
		MaxRetries:     2,
		RequestTimeout: time.Minute,
	}, a.audit, cfg.MCPServerURL)
	a.sessions.Logger = log
	a.sessions.MaxConcurrent = cfg.DefaultMaxConcurrentSessions
	a.sessions.Events = a.webhooks
	a.auth.Sessions = a.sessions

	// Tenant policy versions: the engine compiles the base policy once and
	// loads each tenant's active version from the store on first use.
	policies := sqlstore.NewPolicyStore(db)
	if a.policy, err = policy.NewEngine(ctx, policies); err != nil {
		return nil, fmt.Errorf("policy engine: %w", err)
	}

	// Activations made through another gateway on the same database
	// reach this one within PolicyRefresh.
	refreshCtx, stopRefresh := context.WithCancel(context.WithoutCancel(ctx))
	refreshDone := make(chan struct{})
	go func() {
		defer close(refreshDone)
		a.policy.Run(refreshCtx, cfg.PolicyRefresh, func(err error) {
			log.LogAttrs(refreshCtx, slog.LevelError, "follow policy activations", slog.Any("error", err))
		})
	}()
	a.closers = append(a.closers, func() error { stopRefresh(); <-refreshDone; return nil })

	if a.mcp, err = openMCP(ctx, a, a.policy); err != nil {
		return nil, err
	}
	// A configuration is checked against the tenant's policy before each
	// of its sessions starts.
	a.sessions.Policy = a.policy

	// Human approvals: the governor queues actions and runs approved ones
	// (re-evaluating them against the active policy first); sessions hear
	// how their actions settled. Opened last, so that the sweeper's
	// recovery (executions orphaned by a crash, approved actions never
	// started) runs against a fully wired gateway; closed first.
	// Escalated confirmations of built-in tool calls belong to the event
	// consumer; the router sends every other action on as before.
	a.observe = newObserve(a, log)
	// Governed MCP calls see the session's anomaly score from the event
	// consumer (set before anything serves).
	a.mcp.facts.Scores = a.observe
	// allowed_tools may name only tools the tenant's catalog offers.
	a.agents.KnownTool = a.mcp.knownTool
	router := approvalRouter{observe: a.observe, executor: a.mcp.governor, notifier: a.sessions}
	a.approvals = approval.New(sqlstore.NewApprovalStore(db), router, log)
	a.approvals.Auditor, a.approvals.Emitter, a.approvals.Notifier = a.audit, a.webhooks, router
	a.approvals.Sealer, a.approvals.TTL = sealer, cfg.ApprovalTTL
	a.mcp.governor.Queue, a.mcp.governor.Events = a.approvals, a.webhooks
	// Approvals die with what they needed: an ended session, an archived
	// agent or a withdrawn tool, a revoked key cancel the actions still
	// waiting.
	a.sessions.Actions, a.agents.Actions, a.auth.Revocations = a.approvals, a.approvals, a.approvals
	a.mcp.upstreams.Events = a.webhooks
	if err := a.webhooks.Open(); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	a.closers = append(a.closers, a.webhooks.Close)
	if err := a.approvals.Open(); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	a.closers = append(a.closers, a.approvals.Close)
	a.observe.Approvals = a.approvals
	if err := a.observe.Open(); err != nil {
		return nil, fmt.Errorf("event consumer: %w", err)
	}
	a.closers = append(a.closers, a.observe.Close)

	// Sessions start last: Run re-attaches the sessions that were running
	// and sweeps expiry, with the approval queue telling which sessions
	// still wait for a human.
	a.sessions.Pending = approvalPending{a.approvals}
	a.sessions.Observer = a.observe
	sessionsCtx, stopSessions := context.WithCancel(context.WithoutCancel(ctx))
	sessionsDone := make(chan error, 1)
	go func() { sessionsDone <- a.sessions.Run(sessionsCtx) }()
	a.closers = append(a.closers, func() error {
		stopSessions()
		return errors.Join(<-sessionsDone, a.sessions.Close())
	})

	// Compliance export and policy replay: reads over the sessions, their
	// audit records and the policy engine (a draft replay is compiled on
	// the side and never activated).
	comp := compliance.New(a.sessions, a.agents, sqlstore.NewSessionStore(db), a.audit, a.policy)
	comp.Logger = log

	// Policy versions are changed through one Admin, for the API and the
	// dashboard alike (one lock orders this gateway's engine swaps).
	policyAdmin := &policy.Admin{Store: policies, Engine: a.policy, Audit: a.audit}

	// The dashboard (/ui/) calls the same services on the API's mux; a
	// browser asking for / is sent there.
	dashboard := &web.Server{
		Logger: log, Keys: a.auth, KeyStore: a.auth.Store, TrustedProxies: cfg.TrustedProxies,
		// Sign-in sessions in the database: gateways behind one load
		// balancer share them, and a restart keeps them.
		Signins:   sqlstore.NewSigninStore(db),
		Approvals: a.approvals, Sessions: a.sessions, Agents: a.agents, Credentials: a.vault, Webhooks: a.webhooks,
		Audit: a.audit, Records: a.audit.Store, Compliance: comp,
		Policies: policyAdmin, Upstreams: a.mcp.upstreams,
		// Interrupts go through the event consumer, as the API's do: it
		// waits until the stream shows the session stopped.
		Interrupter: web.InterruptFunc(func(ctx context.Context, p vargate.Principal, id, reason string) error {
			_, err := a.observe.Interrupt(ctx, p, id, reason)
			return err
		}),
	}
	// Closed before the database (closers run in reverse): it cancels a
	// running audit verification and waits for it.
	a.closers = append(a.closers, dashboard.Close)
	mount := func(mux *http.ServeMux) {
		a.mcp.server.Mount(mux)
		dashboard.Mount(mux)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		observeCollector{a.observe})
	api := &httpapi.Server{
		Logger:       log,
		Auth:         a.auth,
		Ping:         db.Ping,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Registry:     reg,
		MetricsToken: cfg.MetricsToken,
		Tools:        a.mcp.catalog,
		Upstreams:    a.mcp.upstreams,
		Mount:        mount,
		Vault:        a.vault,
		Agents:       a.agents,
		Sessions:     a.sessions,
		Audit:        a.audit,
		Policies:     policyAdmin,
		Approvals:    a.approvals,
		Webhooks:     a.webhooks,
		Compliance:   comp,
		Observe:      a.observe,
	}
	a.handler = api.Handler()
	return a, nil
}

// Close stops background work and closes the store, flushing what must be
// durable.
func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}
