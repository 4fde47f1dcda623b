package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// Auditor appends to the tenant's audit trail; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// Actions settles work an agent queued under a permission it has lost:
// actions still waiting for a human (or approved but not started) are
// cancelled with the reason. cmd adapts the approval queue.
type Actions interface {
	// AgentArchived cancels the agent's waiting actions.
	AgentArchived(ctx context.Context, tenantID, agentID, reason, actor string) error
	// ToolsWithdrawn cancels the agent's waiting actions of the tools
	// that allows rejects.
	ToolsWithdrawn(ctx context.Context, tenantID, agentID string, allows func(tool string) bool, reason, actor string) error
}

// auditTimeout bounds an audit write that must outlive the request.
const auditTimeout = 10 * time.Second

// Service creates, versions and archives configurations. Set the exported
// fields (New fills them), then use it from any goroutine.
type Service struct {
	Store Store
	// Audit receives a control_plane record for every change.
	Audit Auditor
	// Actions is told when an agent is archived or stops allowing tools;
	// nil leaves its queued actions as they are.
	Actions Actions
	Now     vargate.Clock
	// KnownTool reports whether the tenant has a governed tool of that
	// name (built-in or tenant tool). When set, allowed_tools may name
	// only such tools; nil accepts any well-formed name.
	KnownTool func(ctx context.Context, tenantID, name string) (bool, error)
}

// New returns a Service over store that audits to log.
func New(store Store, log Auditor) *Service {
	return &Service{Store: store, Audit: log, Now: func() time.Time { return time.Now().UTC() }}
}

func invalid(field, format string, args ...any) error { return vargate.Invalid(field, format, args...) }

// Create validates p over the defaults and stores version 1. actor is the
// key ID of the caller, for the audit trail.
func (s *Service) Create(ctx context.Context, tenantID, actor string, p Params) (Config, error) {
	c := defaults()
	p.apply(&c)
	now := s.Now().UTC().Truncate(time.Microsecond)
	c.ID = vargate.NewID("agent-", 6)
	c.TenantID = tenantID
	c.Version = 1
	c.CreatedAt, c.UpdatedAt, c.CreatedBy = now, now, actor
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if err := s.checkTools(ctx, c, nil); err != nil {
		return Config{}, err
	}
	if err := s.checkParent(ctx, c); err != nil {
		return Config{}, err
	}
	if err := s.Store.Create(ctx, c); err != nil {
		return Config{}, err
	}
	if err := s.audit(ctx, "agent.created", actor, c); err != nil {
		return c, err
	}
	return c, nil
}

// checkTools refuses allowed_tools that name no governed tool of the
// tenant. Names the previous version already allowed are not checked
// again, so that deleting a tenant tool does not block unrelated edits.
func (s *Service) checkTools(ctx context.Context, c Config, previous []string) error {
	if s.KnownTool == nil {
		return nil
	}
	for i, name := range c.AllowedTools {
		if slices.Contains(previous, name) {
			continue
		}
		ok, err := s.KnownTool(ctx, c.TenantID, name)
		if err != nil {
			return err
		}
		if !ok {
			hint := "a built-in governed tool, one of the tenant's tools (GET /tools lists them), <upstream>__<tool> of one of its upstream MCP servers, or a pattern matching one of them"
			if slices.Contains(BuiltinTools, name) {
				hint = "an MCP tool; " + name + " is a built-in Managed Agents tool: list it in governed_builtin_tools to govern it"
			}
			return invalid(fmt.Sprintf("allowed_tools[%d]", i), "unknown tool %q: must be %s", name, hint)
		}
	}
	return nil
}

// Warnings lists what is allowed but probably a mistake in c: another
// active configuration of the tenant with the same name.
func (s *Service) Warnings(ctx context.Context, c Config) ([]string, error) {
	var out []string
	f := Filter{Limit: MaxListLimit}
	for {
		list, err := s.Store.List(ctx, c.TenantID, f)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			if o.ID != c.ID && strings.EqualFold(strings.TrimSpace(o.Name), strings.TrimSpace(c.Name)) {
				out = append(out, fmt.Sprintf("name: agent configuration %s is also named %q", o.ID, o.Name))
			}
		}
		if len(list) < f.EffectiveLimit() {
			return out, nil
		}
		f.Before, f.BeforeID = list[len(list)-1].CreatedAt, list[len(list)-1].ID
	}
}

// Get returns the current version of the tenant's configuration.
func (s *Service) Get(ctx context.Context, tenantID, id string) (Config, error) {
	return s.Store.Get(ctx, tenantID, id)
}

// GetVersion returns one version of the tenant's configuration.
func (s *Service) GetVersion(ctx context.Context, tenantID, id string, version int) (Config, error) {
	return s.Store.GetVersion(ctx, tenantID, id, version)
}

// List returns the tenant's configurations, newest first.
func (s *Service) List(ctx context.Context, tenantID string, f Filter) ([]Config, error) {
	return s.Store.List(ctx, tenantID, f)
}

// Update applies p to the current version and stores the result as the
// next version. Sessions already running keep the version they pinned.
// An archived configuration cannot be updated.
func (s *Service) Update(ctx context.Context, tenantID, id, actor string, p Params) (Config, error) {
	cur, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return Config{}, err
	}
	if cur.Archived() {
		return Config{}, vargate.Errorf(vargate.KindConflict, "agent %s is archived", id)
	}
	next := cur
	p.apply(&next)
	next.Version = cur.Version + 1
	next.UpdatedAt = s.Now().UTC().Truncate(time.Microsecond)
	next.CreatedBy = actor
	if err := next.Validate(); err != nil {
		return Config{}, err
	}
	if err := s.checkTools(ctx, next, cur.AllowedTools); err != nil {
		return Config{}, err
	}
	if err := s.checkParent(ctx, next); err != nil {
		return Config{}, err
	}
	if err := s.Store.Update(ctx, next); err != nil {
		return Config{}, err
	}
	if err := s.audit(ctx, "agent.updated", actor, next); err != nil {
		return next, err
	}
	if !slices.Equal(cur.AllowedTools, next.AllowedTools) && s.Actions != nil {
		reason := fmt.Sprintf("agent %s version %d no longer allows this tool (allowed_tools: %s)", id, next.Version, strings.Join(next.AllowedTools, ", "))
		if err := s.Actions.ToolsWithdrawn(context.WithoutCancel(ctx), tenantID, id, next.Allows, reason, actor); err != nil {
			return next, fmt.Errorf("agent updated, but its queued actions of withdrawn tools could not be cancelled: %w", err)
		}
	}
	return next, nil
}

// Archive stops new sessions of the configuration; running sessions go on.
// Archiving twice is not an error.
func (s *Service) Archive(ctx context.Context, tenantID, id, actor string) (Config, error) {
	cur, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return Config{}, err
	}
	if cur.Archived() {
		// Again: whatever an earlier try could not cancel is cancelled now.
		return cur, s.archived(ctx, cur, actor)
	}
	c, err := s.Store.Archive(ctx, tenantID, id, s.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return Config{}, err
	}
	if err := s.audit(ctx, "agent.archived", actor, c); err != nil {
		return c, err
	}
	return c, s.archived(ctx, c, actor)
}

// archived cancels the waiting actions of archived agent c.
func (s *Service) archived(ctx context.Context, c Config, actor string) error {
	if s.Actions == nil {
		return nil
	}
	if err := s.Actions.AgentArchived(context.WithoutCancel(ctx), c.TenantID, c.ID, "agent "+c.ID+" was archived", actor); err != nil {
		return fmt.Errorf("agent archived, but its queued actions could not be cancelled (archive again to retry): %w", err)
	}
	return nil
}

// Chain returns the configurations from the root of c's delegation chain
// down to c itself (c last), reading the current version of each
// ancestor. It fails if an ancestor is missing or archived, if the chain
// loops, or if c sits deeper below an ancestor than that ancestor's
// max_delegation_depth allows.
func (s *Service) Chain(ctx context.Context, c Config) ([]Config, error) {
	chain := []Config{c}
	seen := map[string]bool{c.ID: true}
	for cur := c; cur.ParentAgentID != ""; {
		if seen[cur.ParentAgentID] {
			return nil, invalid("parent_agent_id", "agent %s would be its own ancestor", c.ID)
		}
		if len(chain) > MaxDelegationDepth {
			return nil, invalid("parent_agent_id", "delegation chain deeper than %d", MaxDelegationDepth)
		}
		parent, err := s.Store.Get(ctx, c.TenantID, cur.ParentAgentID)
		if err != nil {
			if vargate.IsKind(err, vargate.KindNotFound) {
				return nil, invalid("parent_agent_id", "agent %s does not exist in this tenant", cur.ParentAgentID)
			}
			return nil, err
		}
		if parent.Archived() {
			return nil, invalid("parent_agent_id", "agent %s is archived", parent.ID)
		}
		seen[parent.ID] = true
		chain = append(chain, parent)
		cur = parent
	}
	// chain is c, parent, grandparent, …; the ancestor at index i is i
	// levels above c.
	for i := 1; i < len(chain); i++ {
		if a := chain[i]; i > a.MaxDelegationDepth {
			return nil, invalid("parent_agent_id", "agent %s would sit %d levels below agent %s, whose max_delegation_depth is %d",
				c.ID, i, a.ID, a.MaxDelegationDepth)
		}
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// checkParent checks c's parent chain when c has a parent.
func (s *Service) checkParent(ctx context.Context, c Config) error {
	if c.ParentAgentID == "" {
		return nil
	}
	if c.ParentAgentID == c.ID {
		return invalid("parent_agent_id", "an agent cannot be its own parent")
	}
	_, err := s.Chain(ctx, c)
	return err
}

// audit writes the change as a control_plane record with the whole
// version in Detail. It outlives a client that disconnects: the change is
// already committed, so its record must be written.
func (s *Service) audit(ctx context.Context, event, actor string, c Config) error {
	if s.Audit == nil {
		return nil
	}
	m := map[string]any{"event": event, "agent": Document(c)}
	audit.AddActorName(ctx, actor, m)
	detail, err := json.Marshal(m)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	_, err = s.Audit.Append(actx, audit.Record{
		TenantID: c.TenantID, Time: s.Now(), Source: audit.SourceControlPlane,
		AgentID: c.ID, Decision: event, Actor: actor, Detail: detail,
	})
	if err != nil {
		return vargate.Wrap(vargate.KindUnavailable, err,
			"agent %s version %d was saved, but its audit record could not be written", c.ID, c.Version)
	}
	return nil
}

// Document is the JSON form of a configuration as the API shows it and
// the audit trail records it (the setup guide's field names).
func Document(c Config) map[string]any {
	network := map[string]any{"type": c.GovernanceProfile.Network}
	if c.GovernanceProfile.Network == NetworkLimited {
		network["allowed_domains"] = nonNil(c.GovernanceProfile.AllowedDomains)
	}
	var parent any
	if c.ParentAgentID != "" {
		parent = c.ParentAgentID
	}
	return map[string]any{
		"id":                     c.ID,
		"tenant_id":              c.TenantID,
		"version":                c.Version,
		"name":                   c.Name,
		"anthropic_model":        c.AnthropicModel,
		"system_prompt":          c.SystemPrompt,
		"allowed_tools":          nonNil(c.AllowedTools),
		"require_human_approval": nonNil(c.RequireHumanApproval),
		"max_session_hours":      c.MaxSessionHours,
		"max_daily_sessions":     c.MaxDailySessions,
		"max_delegation_depth":   c.MaxDelegationDepth,
		"governance_profile": map[string]any{
			"risk_level":     c.GovernanceProfile.RiskLevel,
			"pii_detection":  c.GovernanceProfile.PIIDetection,
			"network_access": network,
		},
		"parent_agent_id":        parent,
		"governed_builtin_tools": nonNil(c.GovernedBuiltinTools),
		"created_at":             c.CreatedAt,
		"updated_at":             c.UpdatedAt,
		"archived_at":            c.ArchivedAt,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
