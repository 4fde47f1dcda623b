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

// newApp opens the store and builds every component in dependency order,
// each with what it needs: the stores, the capabilities over them, the
// background work, and the HTTP handler over all of it.
func newApp(ctx context.Context, cfg *Config, getenv func(string) string, log *slog.Logger) (a *app, err error) {
	a = &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := a.openStores(ctx, getenv); err != nil {
		return nil, err
	}
	if err := a.buildServices(); err != nil {
		return nil, err
	}
	if err := a.start(ctx); err != nil {
		return nil, err
	}
	a.handler = a.newHandler()
	return a, nil
}

// openStores opens what every capability writes to: the database, the
// audit log, the credential vault, the webhook outbox and the policy
// engine.
func (a *app) openStores(ctx context.Context, getenv func(string) string) error {
	cfg, log := a.cfg, a.log
	db, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	a.db = db
	a.closers = append(a.closers, db.Close)

	// The audit log: group-commit writer, signed checkpoints. Its signing
	// key lives with the gateway's other keys in the data directory.
	if a.audit, err = openAuditLog(cfg, db, log); err != nil {
		return err
	}
	a.closers = append(a.closers, a.audit.Close)

	v, closeKeys, err := openVault(ctx, cfg, getenv, db, vaultAuditor{a.audit}, log)
	if err != nil {
		return err
	}
	a.vault = v
	a.closers = append(a.closers, closeKeys)

	// Signed webhooks: every capability that emits writes to the outbox;
	// the delivery workers start with the rest of the background work.
	// The vault seals what is not a credential but must not be stored in
	// clear: signing secrets here, sensitive approval arguments and
	// results in the queue.
	a.webhooks = webhook.New(sqlstore.NewWebhookStore(db), a.vault, log)
	a.webhooks.Auditor = a.audit
	a.webhooks.AllowPrivate = cfg.WebhookAllowPrivate
	a.webhooks.Retention = cfg.WebhookRetention
	return a.openPolicy(ctx)
}

// openPolicy builds the policy engine, which compiles the base policy
// once and loads each tenant's active version from the store on first
// use, and follows activations made through another gateway on the same
// database (they reach this one within PolicyRefresh).
func (a *app) openPolicy(ctx context.Context) error {
	var err error
	if a.policy, err = policy.NewEngine(ctx, sqlstore.NewPolicyStore(a.db)); err != nil {
		return fmt.Errorf("policy engine: %w", err)
	}
	refreshCtx, stopRefresh := context.WithCancel(context.WithoutCancel(ctx))
	refreshDone := make(chan struct{})
	go func() {
		defer close(refreshDone)
		a.policy.Run(refreshCtx, a.cfg.PolicyRefresh, func(err error) {
			a.log.LogAttrs(refreshCtx, slog.LevelError, "follow policy activations", slog.Any("error", err))
		})
	}()
	a.closers = append(a.closers, func() error { stopRefresh(); <-refreshDone; return nil })
	return nil
}

// buildServices builds the capabilities in dependency order, each
// complete when made; connect then closes the two cycles among them.
func (a *app) buildServices() error {
	cfg, log, db := a.cfg, a.log, a.db
	// Human approvals: the governor and the event consumer queue actions,
	// and sessions, agents and keys cancel theirs when they go away, so
	// the queue comes first.
	a.approvals = approval.New(sqlstore.NewApprovalStore(db), nil, log)
	a.approvals.Auditor, a.approvals.Emitter = a.audit, a.webhooks
	a.approvals.Sealer, a.approvals.TTL = a.vault, cfg.ApprovalTTL

	var err error
	if a.mcp, err = openTools(a); err != nil {
		return err
	}

	// Agent configurations: allowed_tools may name only tools the
	// tenant's catalog offers; archiving an agent or withdrawing a tool
	// cancels the actions still waiting.
	a.agents = agent.New(sqlstore.NewAgentStore(db), a.audit)
	a.agents.KnownTool, a.agents.Actions = a.mcp.knownTool, a.approvals

	// Governed sessions run on the tenant's `anthropic` credential (or
	// ANTHROPIC_API_KEY) against ANTHROPIC_BASE_URL. The event consumer
	// reads their streams through the same client.
	upstream := &session.Upstream{
		BaseURL:        cfg.AnthropicBaseURL,
		Keys:           session.VaultKeys{Vault: a.vault, Fallback: anthropicFallback(cfg)},
		MaxRetries:     2,
		RequestTimeout: time.Minute,
	}
	a.sessions = newSessions(a, upstream)

	// Keys: agent keys name an existing agent, per-session MCP tokens
	// resolve through the sessions, and revoking a key cancels its
	// waiting actions. Key and tenant changes and dashboard sign-ins are
	// on the record; the gateway's own (the bootstrap) with the actor
	// "system".
	a.auth = auth.NewService(sqlstore.NewAuthStore(db))
	a.auth.Audit, a.auth.Actor = a.audit, audit.ActorSystem
	a.auth.Agents, a.auth.Sessions, a.auth.Revocations = agentLookup{a.agents}, a.sessions, a.approvals

	a.observe = newObserve(a, upstream)
	a.mcp.openGovernor(a)
	a.connect()
	return nil
}

// newSessions builds the session service: a configuration is checked
// against the tenant's policy before each of its sessions starts, the
// approval queue tells which sessions still wait for a human, and an
// ended session cancels its waiting actions.
func newSessions(a *app, upstream *session.Upstream) *session.Service {
	s := session.New(sqlstore.NewSessionStore(a.db), a.agents, upstream, a.audit, a.cfg.MCPServerURL)
	s.Logger = a.log
	s.MaxConcurrent = a.cfg.DefaultMaxConcurrentSessions
	s.Events = a.webhooks
	s.Policy = a.policy
	s.Actions, s.Pending = a.approvals, a.approvals
	return s
}

// connect closes the two cycles among the services, which are calls made
// only once the gateway runs: the approval queue runs approved actions
// through the event consumer (escalated confirmations of built-in tool
// calls, which it owns) or the governor (every other action, re-evaluated
// against the active policy first), and sessions hear how their actions
// settled; the sessions attach the event consumer, which drives their
// lifecycle.
func (a *app) connect() {
	router := approval.Router{Owner: a.observe, Executor: a.mcp.governor, Notifier: a.sessions}
	a.approvals.Executor, a.approvals.Notifier = router, router
	a.sessions.Observer = a.observe
}

// start starts the background work: the webhook delivery workers, the
// approval sweeper, whose recovery (executions orphaned by a crash,
// approved actions never started) runs against the fully wired gateway,
// the event consumer, and last the sessions, whose Run re-attaches the
// running sessions and sweeps expiry. Each is closed before what it
// needs.
func (a *app) start(ctx context.Context) error {
	if err := a.webhooks.Open(); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	a.closers = append(a.closers, a.webhooks.Close)
	if err := a.approvals.Open(); err != nil {
		return fmt.Errorf("approvals: %w", err)
	}
	a.closers = append(a.closers, a.approvals.Close)
	if err := a.observe.Open(); err != nil {
		return fmt.Errorf("event consumer: %w", err)
	}
	a.closers = append(a.closers, a.observe.Close)

	sessionsCtx, stopSessions := context.WithCancel(context.WithoutCancel(ctx))
	sessionsDone := make(chan error, 1)
	go func() { sessionsDone <- a.sessions.Run(sessionsCtx) }()
	a.closers = append(a.closers, func() error {
		stopSessions()
		return errors.Join(<-sessionsDone, a.sessions.Close())
	})
	return nil
}

// newHandler builds the HTTP handler: the JSON API, the MCP endpoint and
// the dashboard (/ui/) on one mux, all over the same services.
func (a *app) newHandler() http.Handler {
	cfg, log := a.cfg, a.log
	// Compliance export and policy replay: reads over the sessions, their
	// audit records and the policy engine (a draft replay is compiled on
	// the side and never activated).
	comp := compliance.New(a.sessions, a.agents, sqlstore.NewSessionStore(a.db), a.audit, a.policy)
	comp.Logger = log

	// Policy versions are changed through one Admin, for the API and the
	// dashboard alike (one lock orders this gateway's engine swaps).
	policyAdmin := &policy.Admin{Store: sqlstore.NewPolicyStore(a.db), Engine: a.policy, Audit: a.audit}

	// The dashboard (/ui/) calls the same services on the API's mux; a
	// browser asking for / is sent there.
	dashboard := &web.Server{
		Logger: log, Keys: a.auth, KeyStore: a.auth.Store, TrustedProxies: cfg.TrustedProxies,
		// Sign-in sessions in the database: gateways behind one load
		// balancer share them, and a restart keeps them.
		Signins:   sqlstore.NewSigninStore(a.db),
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
		Ping:         a.db.Ping,
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
	return api.Handler()
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
