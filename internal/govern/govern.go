package govern

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/cache"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// Defaults for Governor's zero fields.
const (
	// DefaultConfigTTL is how long an agent configuration is reused for a
	// principal before it is read again. A session's pinned version never
	// changes; an agent key sees a new version after at most this long
	// (at once on this gateway when Invalidate is called).
	DefaultConfigTTL = 5 * time.Second
	// DefaultAuditTimeout bounds the audit write of one call.
	DefaultAuditTimeout = 10 * time.Second
	// DefaultCallTimeout bounds a connector's work for one call.
	DefaultCallTimeout = 2 * time.Minute
)

// Configs returns the agent configuration that governs a principal: the
// session's pinned version for a session token, the current version for
// an agent key.
type Configs interface {
	ConfigFor(ctx context.Context, p vargate.Principal) (agent.Config, error)
}

// Liveness is implemented by a Configs that can tell whether an action
// may still run now (session.Service): ExecuteApproved asks it at the
// moment an approved action would run. It returns "" when the action may
// run, else the reason, which starts with session_ended (the action is
// cancelled), agent_archived or tool_not_allowed (denied).
type Liveness interface {
	CheckLive(ctx context.Context, p vargate.Principal, tool string) (string, error)
}

// Decider decides a call (policy.Engine).
type Decider interface {
	Decide(ctx context.Context, in *policy.Input) (policy.Decision, error)
}

// Queue holds actions that wait for a human (approval.Service).
type Queue interface {
	Enqueue(ctx context.Context, req approval.Request) (approval.Action, error)
	// StatusFor returns the action as p may see it: an agent only its own.
	StatusFor(ctx context.Context, p vargate.Principal, id string) (approval.Action, error)
}

// Auditor appends to the audit trail (audit.Log).
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// AsyncAuditor is implemented by an Auditor that can queue a record
// without waiting for its commit (audit.Log). The governor uses it for an
// allowed call's mcp_outcome record: the call's mcp_governed record was
// committed before the connector ran, so the answer need not wait for a
// second commit (see docs/AUDIT.md, "Record before acting").
type AsyncAuditor interface {
	AppendAsync(rec audit.Record, done func(audit.Record, error)) error
}

// Emitter writes a webhook event to the outbox (webhook.Service).
type Emitter interface {
	Emit(ctx context.Context, tenantID, event string, data any) error
}

// Facts tells the policy what the gateway knows of the caller's session
// (calls so far, denials, anomaly score, age) and its delegation depth.
// Call asks once per governed call, before the decision: a Facts that
// keeps session budgets counts (reserves) the call there.
type Facts interface {
	Facts(ctx context.Context, p vargate.Principal) (CallerFacts, error)
}

// FactsReader is implemented by a Facts whose Facts reserves the call:
// ExecuteApproved re-evaluates a call that was counted when it was
// queued, so it asks CurrentFacts, which reserves nothing and does not
// count the call being re-evaluated.
type FactsReader interface {
	CurrentFacts(ctx context.Context, p vargate.Principal) (CallerFacts, error)
}

// DecisionObserver is implemented by a Facts that counts decisions: the
// governor tells it the decision of each call whose facts it asked for,
// once the call's record is committed, so that later calls' counters
// include it. An error is logged (the decision stands).
type DecisionObserver interface {
	Decided(ctx context.Context, tenantID, sessionID, decision string) error
}

// CallerFacts are the Facts of one caller.
type CallerFacts struct {
	Session policy.Session
	// DelegationDepth is 0 for a root agent, 1 for its sub-agent, …
	DelegationDepth int
}

// Webhook events govern emits.
const EventDenied = "action.denied"

// Governor runs governed tool calls. Set the exported fields (New fills
// the defaults), then use it from any goroutine.
type Governor struct {
	Tools   *tools.Catalog
	Configs Configs
	Policy  Decider
	// Queue receives calls that need approval; nil: such calls fail.
	Queue Queue
	Audit Auditor
	// Events receives action.denied; nil: no webhooks.
	Events Emitter
	// Facts adds session facts to the policy input; nil: only the IDs.
	Facts  Facts
	Logger *slog.Logger
	Now    vargate.Clock

	ConfigTTL    time.Duration
	AuditTimeout time.Duration
	CallTimeout  time.Duration

	cfgs   cache.Cache[cfgKey, agent.Config]
	agents cache.Cache[agentKey, agentEntry] // prepared policy input agents

	outcomes sync.WaitGroup // mcp_outcome records queued, not yet committed
}

// Flush waits until the outcome records queued so far are committed (or
// have failed, which is logged).
func (g *Governor) Flush() { g.outcomes.Wait() }

// New returns a Governor with defaults filled in.
func New(catalog *tools.Catalog, configs Configs, decider Decider, auditor Auditor, logger *slog.Logger) *Governor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Governor{
		Tools: catalog, Configs: configs, Policy: decider, Audit: auditor, Logger: logger,
		Now:          func() time.Time { return time.Now().UTC() },
		ConfigTTL:    DefaultConfigTTL,
		AuditTimeout: DefaultAuditTimeout,
		CallTimeout:  DefaultCallTimeout,
	}
}

// Log attribute keys.
const (
	logKeyTenant   = "tenant_id"
	logKeyAgent    = "agent_id"
	logKeySession  = "session_id"
	logKeyTool     = "tool"
	logKeyAction   = "action_id"
	logKeyDecision = "decision_id"
	logKeyError    = "error"
)

type cfgKey struct{ tenant, agent, session string }

// ConfigFor returns the principal's agent configuration, from a short
// cache. Only the agent role has one.
func (g *Governor) ConfigFor(ctx context.Context, p vargate.Principal) (agent.Config, error) {
	if p.Role != vargate.RoleAgent || p.AgentID == "" {
		return agent.Config{}, vargate.Errorf(vargate.KindForbidden, "only agent credentials may call tools")
	}
	k := cfgKey{p.TenantID, p.AgentID, p.SessionID}
	now := g.Now()
	if cfg, ok := g.cfgs.Get(k, now); ok {
		return cfg, nil
	}
	cfg, err := g.Configs.ConfigFor(ctx, p)
	if err != nil {
		return agent.Config{}, err
	}
	if cfg.TenantID != p.TenantID || cfg.ID != p.AgentID {
		return agent.Config{}, vargate.Errorf(vargate.KindInternal, "configuration %s of tenant %s returned for agent %s of tenant %s",
			cfg.ID, cfg.TenantID, p.AgentID, p.TenantID)
	}
	ttl := g.ConfigTTL
	if ttl <= 0 {
		ttl = DefaultConfigTTL
	}
	g.cfgs.Add(k, cfg, now.Add(ttl))
	return cfg, nil
}

// Invalidate forgets the cached configurations of an agent (after an
// update or archive on this gateway).
func (g *Governor) Invalidate(tenantID, agentID string) {
	g.cfgs.RemoveFunc(func(k cfgKey) bool { return k.tenant == tenantID && k.agent == agentID })
}

// Visible returns the tools of the principal's tenant that its agent
// configuration allows, in catalog order: what tools/list shows.
// vargate_approval_status is always visible.
func (g *Governor) Visible(ctx context.Context, p vargate.Principal) ([]*tools.Tool, error) {
	cfg, err := g.ConfigFor(ctx, p)
	if err != nil {
		return nil, err
	}
	set, err := g.Tools.Set(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	allowed := allowedTools(cfg)
	out := make([]*tools.Tool, 0, len(allowed))
	for _, t := range set.Tools {
		if allows(allowed, t.Name) {
			out = append(out, t)
		}
	}
	return g.hideDenied(ctx, p, cfg, out), nil
}

// allowedTools is the configuration's allowed_tools plus the status tool,
// which every agent may use to ask about its own actions.
func allowedTools(cfg agent.Config) []string {
	out := make([]string, 0, len(cfg.AllowedTools)+1)
	out = append(out, cfg.AllowedTools...)
	for _, a := range out {
		if a == tools.ApprovalStatus {
			return out
		}
	}
	return append(out, tools.ApprovalStatus)
}

// jsonOrNull marshals v, or returns null.
func jsonOrNull(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
