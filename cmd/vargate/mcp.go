package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/tools"
)

// mcpWiring is the governed MCP server and what it is made of: the tool
// catalog (built-ins and tenant tools, served by /tools), the governor
// (the per-call pipeline, also the approval queue's executor), and the
// MCP endpoint mounted on the API's mux.
//
// Other capabilities plug into the governor after openMCP:
// governor.Queue (the approval service, whose Executor is the governor)
// and governor.Events (webhooks). Until then, calls that need approval
// fail and denials send no webhook.
type mcpWiring struct {
	policy   *policy.Engine
	catalog  *tools.Catalog
	database *tools.DatabaseConnector
	governor *govern.Governor
	server   *mcpserver.Server
}

// openMCP builds the governed MCP server over the app's store, audit log,
// vault, auth and sessions. engine may be nil: a policy engine over the
// base policy is made.
func openMCP(ctx context.Context, a *app, engine *policy.Engine) (*mcpWiring, error) {
	cfg := a.cfg
	w := &mcpWiring{policy: engine}
	if w.policy == nil {
		var err error
		if w.policy, err = policy.NewEngine(ctx, nil); err != nil {
			return nil, fmt.Errorf("policy engine: %w", err)
		}
	}
	// Connections to targets a tenant or an agent chose (SMTP servers,
	// databases, HTTP APIs) go through the guard; the web search endpoint
	// is the operator's and does not.
	guard := &netguard.Guard{AllowPrivate: cfg.AllowPrivateTargets}
	runner := tools.NewHTTPRunner(guard, a.vault)
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

	if cfg.BenchTools {
		noop, err := noopTool()
		if err != nil {
			return nil, err
		}
		w.catalog.Add(noop)
	}

	w.governor = govern.New(w.catalog, a.sessions, w.policy, a.audit, a.log)
	if cfg.PolicySidecarURL != "" {
		// Comparison mode (vargate bench): decide over HTTP through an
		// OPA sidecar instead of the embedded engine.
		w.governor.Policy = newSidecarDecider(cfg.PolicySidecarURL)
		a.log.Warn("governed calls are decided by the policy sidecar, not the embedded engine (benchmark comparison mode)",
			slog.String("url", cfg.PolicySidecarURL))
	}
	w.governor.Facts = &sessionFacts{sessions: a.sessions, agents: a.agents, now: w.governor.Now}
	w.catalog.Add(w.governor.ApprovalStatusTool())

	w.server = &mcpserver.Server{
		Governor:       w.governor,
		Auth:           a.auth,
		Logger:         a.log,
		IPAllowlist:    cfg.MCPIPAllowlist,
		TrustedProxies: cfg.TrustedProxies,
		AllowedOrigins: append([]string{originOf(cfg.MCPServerURL)}, cfg.MCPAllowedOrigins...),
		MaxBodyBytes:   max(cfg.MaxBodyBytes, mcpserver.DefaultMaxBodyBytes),
	}
	return w, nil
}

// originOf returns the scheme://host of a URL ("" if it has none).
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// sessionFacts tells the policy a caller's session age and delegation
// depth. A session's start and chain never change, and an agent's chain
// rarely does, so both are kept in memory (the chain for a minute).
type sessionFacts struct {
	sessions *session.Service
	agents   *agent.Service
	now      vargate.Clock

	mu      sync.Mutex
	bySess  map[string]sessionFact
	byAgent map[string]agentFact
}

type sessionFact struct {
	created time.Time
	depth   int
}

type agentFact struct {
	depth   int
	expires time.Time
}

// agentFactTTL bounds how long an agent key's delegation depth is reused.
const agentFactTTL = time.Minute

// Facts implements govern.Facts.
func (f *sessionFacts) Facts(ctx context.Context, p vargate.Principal) (govern.CallerFacts, error) {
	now := f.now()
	f.mu.Lock()
	if f.bySess == nil || len(f.bySess)+len(f.byAgent) > 100000 {
		f.bySess, f.byAgent = map[string]sessionFact{}, map[string]agentFact{}
	}
	sf, haveSess := f.bySess[p.TenantID+"/"+p.SessionID]
	af, haveAgent := f.byAgent[p.TenantID+"/"+p.AgentID]
	f.mu.Unlock()

	if p.SessionID != "" {
		if !haveSess {
			s, err := f.sessions.SessionFor(ctx, p)
			if err != nil {
				return govern.CallerFacts{}, err
			}
			sf = sessionFact{created: s.CreatedAt, depth: s.DelegationDepth()}
			f.mu.Lock()
			f.bySess[p.TenantID+"/"+p.SessionID] = sf
			f.mu.Unlock()
		}
		return govern.CallerFacts{
			Session:         policy.Session{ID: p.SessionID, AgeSeconds: now.Sub(sf.created).Seconds()},
			DelegationDepth: sf.depth,
		}, nil
	}
	if !haveAgent || !now.Before(af.expires) {
		c, err := f.agents.Get(ctx, p.TenantID, p.AgentID)
		if err != nil {
			return govern.CallerFacts{}, err
		}
		chain, err := f.agents.Chain(ctx, c)
		if err != nil {
			return govern.CallerFacts{}, err
		}
		af = agentFact{depth: len(chain) - 1, expires: now.Add(agentFactTTL)}
		f.mu.Lock()
		f.byAgent[p.TenantID+"/"+p.AgentID] = af
		f.mu.Unlock()
	}
	return govern.CallerFacts{DelegationDepth: af.depth}, nil
}
