package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/upstream"
)

// mcpWiring is the governed MCP server and what it is made of: the tool
// catalog (built-ins and tenant tools, served by /tools), the governor
// (the per-call pipeline, also the approval queue's executor), and the
// MCP endpoint mounted on the API's mux.
//
// It is built in two steps: openTools before the agents (whose
// allowed_tools are checked against the catalog), openGovernor once the
// sessions, the approval queue and the event consumer it hands calls and
// facts to exist.
type mcpWiring struct {
	catalog  *tools.Catalog
	database *tools.DatabaseConnector
	governor *govern.Governor
	facts    *session.Facts
	server   *mcpserver.Server
	// upstreams are the tenants' own MCP servers, whose approved tools
	// join the catalog (served by /mcp/upstreams).
	upstreams *upstream.Service
}

// openTools builds the tool catalog over the app's store, audit log,
// vault and webhooks: the built-in tools, the tenants' own tools and the
// tools of their upstream MCP servers, which it opens.
func openTools(a *app) (*mcpWiring, error) {
	cfg := a.cfg
	w := &mcpWiring{}
	// Connections to targets a tenant or an agent chose (SMTP servers,
	// databases, HTTP APIs) go through the guard; the web search endpoint
	// is the operator's and does not.
	guard := &netguard.Guard{AllowPrivate: cfg.AllowPrivateTargets}
	toolTLS, err := toolTLSConfig(cfg.ToolCAFile)
	if err != nil {
		return nil, err
	}
	runner := tools.NewHTTPRunner(guard, a.vault)
	runner.TLSConfig = toolTLS
	w.database = &tools.DatabaseConnector{Credentials: a.vault, Guard: guard}
	a.closers = append(a.closers, w.database.Close)
	w.catalog = tools.NewCatalog(
		tools.NewWebSearchTool(&tools.WebSearchConnector{URL: cfg.WebSearchURL, Credentials: a.vault,
			Client: &http.Client{Timeout: 30 * time.Second}}),
		tools.NewSendEmailTool(&tools.EmailConnector{Credentials: a.vault, Guard: guard}),
		tools.NewReadDatabaseTool(w.database),
		tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{Runner: runner}),
	)
	w.catalog.Store = sqlstore.NewToolStore(a.db)
	w.catalog.Runner = runner
	w.catalog.Audit = a.audit
	w.catalog.Logger = a.log

	// Upstream MCP servers reach out through the same guard; their tools
	// are one more source of the catalog, withheld when their definition
	// leaves its pin.
	w.upstreams = upstream.New(sqlstore.NewUpstreamStore(a.db), a.vault, guard, a.audit, a.log)
	w.upstreams.AllowStdio = cfg.UpstreamStdio
	w.upstreams.TLSConfig = toolTLS
	w.upstreams.OnChange = w.catalog.Invalidate
	w.upstreams.Events = a.webhooks
	w.catalog.Sources = append(w.catalog.Sources, w.upstreams)
	if err := w.upstreams.Open(); err != nil {
		return nil, fmt.Errorf("upstream MCP servers: %w", err)
	}
	a.closers = append(a.closers, w.upstreams.Close)

	if cfg.BenchTools {
		noop, err := noopTool()
		if err != nil {
			return nil, err
		}
		w.catalog.Add(noop)
	}
	return w, nil
}

// openGovernor builds the governor over the catalog, with the app's
// sessions, policy engine, audit log, approval queue (calls that need a
// human), webhooks (denials) and event consumer (anomaly scores), and the
// MCP endpoint that serves it.
func (w *mcpWiring) openGovernor(a *app) {
	cfg := a.cfg
	w.governor = govern.New(w.catalog, a.sessions, a.policy, a.audit, a.log)
	w.governor.Queue, w.governor.Events = a.approvals, a.webhooks
	if cfg.PolicySidecarURL != "" {
		// Comparison mode (vargate bench): decide over HTTP through an
		// OPA sidecar instead of the embedded engine.
		w.governor.Policy = newSidecarDecider(cfg.PolicySidecarURL)
		a.log.Warn("governed calls are decided by the policy sidecar, not the embedded engine (benchmark comparison mode)",
			slog.String("url", netguard.RedactURL(cfg.PolicySidecarURL)))
	}
	// Session budgets: each governed call reserves its place in the
	// session's counters in the database before it is decided; the
	// session's anomaly score comes from the event consumer.
	w.facts = &session.Facts{Sessions: a.sessions, Agents: a.agents, Counters: sqlstore.NewSessionStore(a.db),
		Scores: a.observe, Now: w.governor.Now}
	w.governor.Facts = governFacts{w.facts}
	w.catalog.Add(w.governor.ApprovalStatusTool())

	w.server = &mcpserver.Server{
		Governor:       w.governor,
		Auth:           a.auth,
		Logger:         a.log,
		IPAllowlist:    cfg.MCPIPAllowlist,
		TrustedProxies: cfg.TrustedProxies,
		AllowedOrigins: append([]string{originOf(cfg.MCPServerURL)}, cfg.MCPAllowedOrigins...),
		MaxBodyBytes:   max(cfg.MaxBodyBytes, mcpserver.DefaultMaxBodyBytes),
		MaxBatch:       cfg.MCPMaxBatch,
	}
	if !cfg.mcpURLDefault {
		// The configured public URL names the resource (RFC 9728).
		w.server.PublicURL = originOf(cfg.MCPServerURL)
	}
}

// originOf returns the scheme://host of a URL ("" if it has none).
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// governFacts hands the session facts (internal/session) to the
// governor.
type governFacts struct{ f *session.Facts }

// Facts implements govern.Facts.
func (g governFacts) Facts(ctx context.Context, p vargate.Principal) (govern.CallerFacts, error) {
	c, err := g.f.For(ctx, p)
	return govern.CallerFacts{Session: c.Session, DelegationDepth: c.DelegationDepth}, err
}

// CurrentFacts implements govern.FactsReader.
func (g governFacts) CurrentFacts(ctx context.Context, p vargate.Principal) (govern.CallerFacts, error) {
	c, err := g.f.Queued(ctx, p)
	return govern.CallerFacts{Session: c.Session, DelegationDepth: c.DelegationDepth}, err
}

// Decided implements govern.DecisionObserver.
func (g governFacts) Decided(ctx context.Context, tenantID, sessionID, decision string) error {
	return g.f.Decided(ctx, tenantID, sessionID, decision)
}

var (
	_ govern.DecisionObserver = governFacts{}
	_ govern.FactsReader      = governFacts{}
)

// toolTLSConfig returns the TLS configuration of HTTP tools and upstreams:
// nil (Go's default) without a CA file, else the system roots plus the
// file's certificates.
func toolTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("VARGATE_TOOL_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("VARGATE_TOOL_CA_FILE: %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
