package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
)

// AgentRequest is the body of POST /managed/agents and PATCH
// /managed/agents/{id}: the setup guide's configuration fields. Omitted
// fields take their defaults (create) or keep their value (update).
type AgentRequest struct {
	Name                 *string                   `json:"name"`
	AnthropicModel       *string                   `json:"anthropic_model"`
	SystemPrompt         *string                   `json:"system_prompt"`
	AllowedTools         *[]string                 `json:"allowed_tools"`
	RequireHumanApproval *[]string                 `json:"require_human_approval"`
	MaxSessionHours      *float64                  `json:"max_session_hours"`
	MaxDailySessions     *int                      `json:"max_daily_sessions"`
	MaxDelegationDepth   *int                      `json:"max_delegation_depth"`
	GovernanceProfile    *GovernanceProfileRequest `json:"governance_profile"`
	// ParentAgentID is a string, or null to make the agent a root agent.
	ParentAgentID        json.RawMessage `json:"parent_agent_id"`
	GovernedBuiltinTools *[]string       `json:"governed_builtin_tools"`
}

// GovernanceProfileRequest is the governance_profile of an AgentRequest.
type GovernanceProfileRequest struct {
	RiskLevel     *string               `json:"risk_level"`
	PIIDetection  *bool                 `json:"pii_detection"`
	NetworkAccess *NetworkAccessRequest `json:"network_access"`
}

// NetworkAccessRequest is governance_profile.network_access: type limited
// (the default: only allowed_domains and the gateway's MCP server) or
// unrestricted.
type NetworkAccessRequest struct {
	Type           *string   `json:"type"`
	AllowedDomains *[]string `json:"allowed_domains"`
}

// AgentResponse is an agent configuration (one version).
type AgentResponse struct {
	ID                   string                    `json:"id"`
	TenantID             string                    `json:"tenant_id"`
	Version              int                       `json:"version"`
	Name                 string                    `json:"name"`
	AnthropicModel       string                    `json:"anthropic_model"`
	SystemPrompt         string                    `json:"system_prompt"`
	AllowedTools         []string                  `json:"allowed_tools"`
	RequireHumanApproval []string                  `json:"require_human_approval"`
	MaxSessionHours      float64                   `json:"max_session_hours"`
	MaxDailySessions     int                       `json:"max_daily_sessions"`
	MaxDelegationDepth   int                       `json:"max_delegation_depth"`
	GovernanceProfile    GovernanceProfileResponse `json:"governance_profile"`
	ParentAgentID        *string                   `json:"parent_agent_id"`
	GovernedBuiltinTools []string                  `json:"governed_builtin_tools"`
	CreatedAt            time.Time                 `json:"created_at"`
	UpdatedAt            time.Time                 `json:"updated_at"`
	ArchivedAt           *time.Time                `json:"archived_at"`
	// Warnings, only in the answer to a create or update, say what is
	// allowed but probably a mistake.
	Warnings []string `json:"warnings,omitempty"`
}

// GovernanceProfileResponse is an agent's governance_profile.
type GovernanceProfileResponse struct {
	RiskLevel     string                `json:"risk_level"`
	PIIDetection  bool                  `json:"pii_detection"`
	NetworkAccess NetworkAccessResponse `json:"network_access"`
}

// NetworkAccessResponse is governance_profile.network_access.
type NetworkAccessResponse struct {
	Type           string   `json:"type"`
	AllowedDomains []string `json:"allowed_domains"`
}

func agentResponse(c agent.Config) AgentResponse {
	r := AgentResponse{
		ID: c.ID, TenantID: c.TenantID, Version: c.Version, Name: c.Name, AnthropicModel: c.AnthropicModel,
		SystemPrompt: c.SystemPrompt, AllowedTools: nonNil(c.AllowedTools), RequireHumanApproval: nonNil(c.RequireHumanApproval),
		MaxSessionHours: c.MaxSessionHours, MaxDailySessions: c.MaxDailySessions, MaxDelegationDepth: c.MaxDelegationDepth,
		GovernanceProfile: GovernanceProfileResponse{
			RiskLevel: c.GovernanceProfile.RiskLevel, PIIDetection: c.GovernanceProfile.PIIDetection,
			NetworkAccess: NetworkAccessResponse{Type: c.GovernanceProfile.Network, AllowedDomains: nonNil(c.GovernanceProfile.AllowedDomains)},
		},
		GovernedBuiltinTools: nonNil(c.GovernedBuiltinTools),
		CreatedAt:            c.CreatedAt, UpdatedAt: c.UpdatedAt, ArchivedAt: c.ArchivedAt,
	}
	if c.ParentAgentID != "" {
		r.ParentAgentID = &c.ParentAgentID
	}
	return r
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// params converts the request to the domain's parameters.
func (req AgentRequest) params() (agent.Params, error) {
	p := agent.Params{
		Name: req.Name, AnthropicModel: req.AnthropicModel, SystemPrompt: req.SystemPrompt,
		AllowedTools: req.AllowedTools, RequireHumanApproval: req.RequireHumanApproval,
		MaxSessionHours: req.MaxSessionHours, MaxDailySessions: req.MaxDailySessions,
		MaxDelegationDepth: req.MaxDelegationDepth, GovernedBuiltinTools: req.GovernedBuiltinTools,
	}
	if g := req.GovernanceProfile; g != nil {
		p.GovernanceProfile = &agent.ProfileParams{RiskLevel: g.RiskLevel, PIIDetection: g.PIIDetection}
		if n := g.NetworkAccess; n != nil {
			p.GovernanceProfile.Network, p.GovernanceProfile.AllowedDomains = n.Type, n.AllowedDomains
		}
	}
	if raw := bytes.TrimSpace(req.ParentAgentID); len(raw) > 0 {
		var parent *string
		if err := json.Unmarshal(raw, &parent); err != nil {
			return agent.Params{}, vargate.Invalid("parent_agent_id", "must be an agent ID or null")
		}
		if parent == nil {
			parent = new(string)
		}
		p.ParentAgentID = parent
	}
	return p, nil
}

func (s *Server) agents() (*agent.Service, error) {
	if s.Agents == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "managed agents are not configured")
	}
	return s.Agents, nil
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var req AgentRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	params, err := req.params()
	if err != nil {
		return err
	}
	c, err := svc.Create(r.Context(), p.TenantID, p.KeyID, params)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.agentWithWarnings(r, svc, c))
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := agent.Filter{ParentAgentID: q.Get("parent_agent_id")}
	if f.IncludeArchived, err = queryBool(q, "include_archived"); err != nil {
		return err
	}
	if f.Limit, err = queryLimit(q, agent.MaxListLimit); err != nil {
		return err
	}
	if f.Before, f.BeforeID, err = decodeCursor(q.Get("cursor")); err != nil {
		return err
	}
	list, err := svc.List(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	out := make([]AgentResponse, len(list))
	for i, c := range list {
		out[i] = agentResponse(c)
	}
	body := map[string]any{"agents": out, "count": len(out), "next_cursor": nil}
	if len(list) > 0 && len(list) == f.EffectiveLimit() {
		last := list[len(list)-1]
		body["next_cursor"] = encodeCursor(last.CreatedAt, last.ID)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var c agent.Config
	if v := r.URL.Query().Get("version"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 {
			return vargate.Invalid("version", "must be a positive integer")
		}
		c, err = svc.GetVersion(r.Context(), p.TenantID, r.PathValue("id"), n)
	} else {
		c, err = svc.Get(r.Context(), p.TenantID, r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentResponse(c))
	return nil
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var req AgentRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	params, err := req.params()
	if err != nil {
		return err
	}
	c, err := svc.Update(r.Context(), p.TenantID, r.PathValue("id"), p.KeyID, params)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.agentWithWarnings(r, svc, c))
	return nil
}

// agentWithWarnings is the answer to a create or update: the stored
// configuration and what in it is probably a mistake. The change is made
// by then, so a failure to work out the warnings is logged, not returned.
func (s *Server) agentWithWarnings(r *http.Request, svc *agent.Service, c agent.Config) AgentResponse {
	resp := agentResponse(c)
	ws, err := svc.Warnings(r.Context(), c)
	if err != nil {
		s.Logger.LogAttrs(r.Context(), slog.LevelWarn, "agent configuration warnings",
			slog.String(logKeyRequestID, vargate.RequestID(r.Context())), slog.Any(logKeyError, err))
	}
	resp.Warnings = ws
	return resp
}

func (s *Server) archiveAgent(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	c, err := svc.Archive(r.Context(), p.TenantID, r.PathValue("id"), p.KeyID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentResponse(c))
	return nil
}

// queryBool reads an optional boolean query parameter.
func queryBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, vargate.Invalid(name, "must be true or false")
	}
	return b, nil
}
