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
	"github.com/vargate/vargate/internal/upstream"
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
	facts    *sessionFacts
	server   *mcpserver.Server
	// upstreams are the tenants' own MCP servers, whose approved tools
	// join the catalog (served by /mcp/upstreams).
	upstreams *upstream.Service
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

	w.governor = govern.New(w.catalog, a.sessions, w.policy, a.audit, a.log)
	if cfg.PolicySidecarURL != "" {
		// Comparison mode (vargate bench): decide over HTTP through an
		// OPA sidecar instead of the embedded engine.
		w.governor.Policy = newSidecarDecider(cfg.PolicySidecarURL)
		a.log.Warn("governed calls are decided by the policy sidecar, not the embedded engine (benchmark comparison mode)",
			slog.String("url", netguard.RedactURL(cfg.PolicySidecarURL)))
	}
	w.facts = &sessionFacts{sessions: a.sessions, agents: a.agents, counts: sqlstore.NewAuditStore(a.db), now: w.governor.Now}
	w.governor.Facts = w.facts
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
	if !cfg.mcpURLDefault {
		// The configured public URL names the resource (RFC 9728).
		w.server.PublicURL = originOf(cfg.MCPServerURL)
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

// sessionFacts tells the policy what the gateway knows of a caller's
// session — its age, governed calls and denials so far, anomaly score —
// and its delegation depth. A session's start and chain never change, and
// an agent's chain rarely does, so both are kept in memory (the chain for
// a minute). The counters are read from the audit trail at most every
// countTTL and moved by this gateway's own decisions in between (another
// gateway's, and built-in tool confirmations, show at the next read); the
// anomaly score is read from the event consumer's state at most every
// scoreTTL.
type sessionFacts struct {
	sessions *session.Service
	agents   *agent.Service
	counts   interface {
		SessionDecisionCounts(ctx context.Context, tenantID, sessionID string) (calls, denials int, err error)
	}
	// scores is set once the event consumer exists; nil leaves the
	// anomaly score at 0.
	scores interface {
		AnomalyScore(ctx context.Context, tenantID, sessionID string) (float64, error)
	}
	now vargate.Clock

	mu      sync.Mutex
	bySess  map[string]*sessionFact
	byAgent map[string]agentFact
}

type sessionFact struct {
	created        time.Time
	depth          int
	calls, denials int
	counted        time.Time // when calls and denials were read; zero: never
	score          float64
	scored         time.Time
}

type agentFact struct {
	depth   int
	expires time.Time
}

const (
	// agentFactTTL bounds how long an agent key's delegation depth is reused.
	agentFactTTL = time.Minute
	// countTTL and scoreTTL bound how long a session's counters and
	// anomaly score are reused.
	countTTL = 5 * time.Second
	scoreTTL = time.Second
)

// Facts implements govern.Facts.
func (f *sessionFacts) Facts(ctx context.Context, p vargate.Principal) (govern.CallerFacts, error) {
	now := f.now()
	key := p.TenantID + "/" + p.SessionID
	f.mu.Lock()
	if f.bySess == nil || len(f.bySess)+len(f.byAgent) > 100000 {
		f.bySess, f.byAgent = map[string]*sessionFact{}, map[string]agentFact{}
	}
	sf := f.bySess[key]
	af, haveAgent := f.byAgent[p.TenantID+"/"+p.AgentID]
	f.mu.Unlock()

	if p.SessionID != "" {
		if sf == nil {
			s, err := f.sessions.SessionFor(ctx, p)
			if err != nil {
				return govern.CallerFacts{}, err
			}
			sf = &sessionFact{created: s.CreatedAt, depth: s.DelegationDepth()}
			f.mu.Lock()
			if cur := f.bySess[key]; cur != nil {
				sf = cur
			} else {
				f.bySess[key] = sf
			}
			f.mu.Unlock()
		}
		if err := f.refresh(ctx, p, sf, now); err != nil {
			return govern.CallerFacts{}, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return govern.CallerFacts{
			Session: policy.Session{ID: p.SessionID, AgeSeconds: now.Sub(sf.created).Seconds(),
				Calls: sf.calls, Denials: sf.denials, AnomalyScore: sf.score},
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

// refresh re-reads the session's counters and anomaly score when they are
// older than their TTL. An error fails the call closed.
func (f *sessionFacts) refresh(ctx context.Context, p vargate.Principal, sf *sessionFact, now time.Time) error {
	f.mu.Lock()
	needCount := f.counts != nil && (sf.counted.IsZero() || now.Sub(sf.counted) >= countTTL)
	needScore := f.scores != nil && (sf.scored.IsZero() || now.Sub(sf.scored) >= scoreTTL)
	f.mu.Unlock()
	if needCount {
		calls, denials, err := f.counts.SessionDecisionCounts(ctx, p.TenantID, p.SessionID)
		if err != nil {
			return err
		}
		f.mu.Lock()
		sf.calls, sf.denials, sf.counted = calls, denials, now
		f.mu.Unlock()
	}
	if needScore {
		score, err := f.scores.AnomalyScore(ctx, p.TenantID, p.SessionID)
		if err != nil {
			return err
		}
		f.mu.Lock()
		sf.score, sf.scored = score, now
		f.mu.Unlock()
	}
	return nil
}

// Decided implements govern.DecisionObserver: this gateway's decisions
// move the counters until the next read.
func (f *sessionFacts) Decided(tenantID, sessionID, decision string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sf := f.bySess[tenantID+"/"+sessionID]; sf != nil && !sf.counted.IsZero() {
		sf.calls++
		if decision == policy.Deny {
			sf.denials++
		}
	}
}

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
