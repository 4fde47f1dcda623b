package observe

import (
	"slices"
	"time"

	"github.com/vargate/vargate/internal/agent"
)

// Target is a session to observe and the governance that applies to it: a
// snapshot of the session's pinned agent configuration, stored with the
// consumer's state so that a process resuming the session applies the same
// rules.
type Target struct {
	TenantID string `json:"tenant_id"`
	// SessionID is Vargate's session ID (vs-…); UpstreamID the Managed
	// Agents session ID (sesn_…).
	SessionID    string `json:"session_id"`
	UpstreamID   string `json:"upstream_id"`
	AgentID      string `json:"agent_id"`
	AgentVersion int    `json:"agent_version"`
	// RiskLevel sets the auto-interrupt threshold (anomaly.ThresholdFor).
	RiskLevel string `json:"risk_level"`
	// PIIDetection redacts personal data (not only secrets) from the tool
	// inputs and results kept in the audit trail.
	PIIDetection   bool     `json:"pii_detection"`
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	// AllowedTools, RequireHumanApproval and MaxDelegationDepth feed the
	// policy input when a confirmation request is decided.
	AllowedTools         []string `json:"allowed_tools,omitempty"`
	RequireHumanApproval []string `json:"require_human_approval,omitempty"`
	MaxDelegationDepth   int      `json:"max_delegation_depth,omitempty"`
	// DelegationDepth is 0 for a root agent's session, 1 for its
	// sub-agent's, and so on.
	DelegationDepth int `json:"delegation_depth,omitempty"`
	// GovernedBuiltinTools are the built-in tools that run only after
	// Vargate confirms each call.
	GovernedBuiltinTools []string `json:"governed_builtin_tools,omitempty"`
	// MCPServerName is the name of Vargate's own MCP server on the
	// upstream agent: calls to it are governed by the MCP server and
	// linked, not judged again.
	MCPServerName string    `json:"mcp_server_name,omitempty"`
	StartedAt     time.Time `json:"started_at"`
}

// NewTarget returns the target for a session of the agent configuration
// cfg (the version the session pinned).
func NewTarget(sessionID, upstreamID, mcpServerName string, cfg agent.Config, startedAt time.Time) Target {
	return Target{
		TenantID: cfg.TenantID, SessionID: sessionID, UpstreamID: upstreamID,
		AgentID: cfg.ID, AgentVersion: cfg.Version,
		RiskLevel:            cfg.GovernanceProfile.RiskLevel,
		PIIDetection:         cfg.GovernanceProfile.PIIDetection,
		AllowedDomains:       slices.Clone(cfg.GovernanceProfile.AllowedDomains),
		AllowedTools:         slices.Clone(cfg.AllowedTools),
		RequireHumanApproval: slices.Clone(cfg.RequireHumanApproval),
		MaxDelegationDepth:   cfg.MaxDelegationDepth,
		GovernedBuiltinTools: slices.Clone(cfg.GovernedBuiltinTools),
		MCPServerName:        mcpServerName,
		StartedAt:            startedAt,
	}
}
