package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
)

// agentsData is the agents list.
type agentsData struct {
	Agents   []agent.Config
	Archived bool
}

func (s *Server) agentsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Agents == nil {
		return notConfigured("Agent configuration")
	}
	archived := r.URL.Query().Get("archived") == "1"
	list, err := s.Agents.List(r.Context(), c.P.TenantID, agent.Filter{IncludeArchived: archived, Limit: agent.MaxListLimit})
	if err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "agents", "Agents", "agents", agentsData{Agents: list, Archived: archived})
}

// agentForm is the create/edit form: the configuration's fields as text.
type agentForm struct {
	// ID is empty for a new configuration.
	ID                   string
	Version              int
	Archived             bool
	Name                 string
	Model                string
	SystemPrompt         string
	AllowedTools         string
	RequireHumanApproval string
	MaxSessionHours      string
	MaxDailySessions     string
	MaxDelegationDepth   string
	RiskLevel            string
	PIIDetection         bool
	Network              string
	AllowedDomains       string
	ParentAgentID        string
	GovernedBuiltinTools []string

	// Choices.
	RiskLevels   []string
	Networks     []string
	BuiltinTools []string
	Parents      []agent.Config
	Error        string
	// Config is the stored version (edit only), for the read-only view.
	Config *agent.Config
}

func formFromConfig(cfg agent.Config) agentForm {
	return agentForm{
		ID: cfg.ID, Version: cfg.Version, Archived: cfg.Archived(), Name: cfg.Name, Model: cfg.AnthropicModel, SystemPrompt: cfg.SystemPrompt,
		AllowedTools: strings.Join(cfg.AllowedTools, "\n"), RequireHumanApproval: strings.Join(cfg.RequireHumanApproval, "\n"),
		MaxSessionHours:    strconv.FormatFloat(cfg.MaxSessionHours, 'f', -1, 64),
		MaxDailySessions:   strconv.Itoa(cfg.MaxDailySessions),
		MaxDelegationDepth: strconv.Itoa(cfg.MaxDelegationDepth),
		RiskLevel:          cfg.GovernanceProfile.RiskLevel, PIIDetection: cfg.GovernanceProfile.PIIDetection,
		Network: cfg.GovernanceProfile.Network, AllowedDomains: strings.Join(cfg.GovernanceProfile.AllowedDomains, "\n"),
		ParentAgentID: cfg.ParentAgentID, GovernedBuiltinTools: cfg.GovernedBuiltinTools,
	}
}

// newAgentForm is the form of a new configuration, with the defaults.
func newAgentForm() agentForm {
	return agentForm{
		Model: agent.DefaultModel, MaxSessionHours: strconv.FormatFloat(agent.DefaultMaxSessionHours, 'f', -1, 64),
		MaxDailySessions: strconv.Itoa(agent.DefaultMaxDailySessions), MaxDelegationDepth: strconv.Itoa(agent.DefaultMaxDelegationDepth),
		RiskLevel: agent.DefaultRiskLevel, PIIDetection: true, Network: agent.NetworkLimited,
	}
}

// readAgentForm reads the posted form; every field is set, so an update
// replaces the whole configuration with what the form showed.
func readAgentForm(r *http.Request) agentForm {
	f := agentForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), Model: strings.TrimSpace(r.PostFormValue("anthropic_model")),
		SystemPrompt: r.PostFormValue("system_prompt"), AllowedTools: r.PostFormValue("allowed_tools"),
		RequireHumanApproval: r.PostFormValue("require_human_approval"),
		MaxSessionHours:      strings.TrimSpace(r.PostFormValue("max_session_hours")),
		MaxDailySessions:     strings.TrimSpace(r.PostFormValue("max_daily_sessions")),
		MaxDelegationDepth:   strings.TrimSpace(r.PostFormValue("max_delegation_depth")),
		RiskLevel:            r.PostFormValue("risk_level"), PIIDetection: r.PostFormValue("pii_detection") == "on",
		Network: r.PostFormValue("network"), AllowedDomains: r.PostFormValue("allowed_domains"),
		ParentAgentID: r.PostFormValue("parent_agent_id"),
	}
	_ = r.ParseForm() // PostFormValue above already parsed it
	f.GovernedBuiltinTools = r.PostForm["governed_builtin_tools"]
	return f
}

// lines splits a text area into its non-empty lines (commas separate too).
func lines(s string) []string {
	out := []string{}
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (f agentForm) params() (agent.Params, error) {
	hours, err := strconv.ParseFloat(f.MaxSessionHours, 64)
	if err != nil {
		return agent.Params{}, vargate.Invalid("max_session_hours", "must be a number of hours")
	}
	daily, err := strconv.Atoi(f.MaxDailySessions)
	if err != nil {
		return agent.Params{}, vargate.Invalid("max_daily_sessions", "must be a whole number")
	}
	depth, err := strconv.Atoi(f.MaxDelegationDepth)
	if err != nil {
		return agent.Params{}, vargate.Invalid("max_delegation_depth", "must be a whole number")
	}
	allowed, approvals, domains := lines(f.AllowedTools), lines(f.RequireHumanApproval), lines(f.AllowedDomains)
	builtins := f.GovernedBuiltinTools
	if builtins == nil {
		builtins = []string{}
	}
	return agent.Params{
		Name: &f.Name, AnthropicModel: &f.Model, SystemPrompt: &f.SystemPrompt,
		AllowedTools: &allowed, RequireHumanApproval: &approvals,
		MaxSessionHours: &hours, MaxDailySessions: &daily, MaxDelegationDepth: &depth,
		GovernanceProfile:    &agent.ProfileParams{RiskLevel: &f.RiskLevel, PIIDetection: &f.PIIDetection, Network: &f.Network, AllowedDomains: &domains},
		ParentAgentID:        &f.ParentAgentID,
		GovernedBuiltinTools: &builtins,
	}, nil
}

// withChoices adds the form's option lists.
func (s *Server) withChoices(r *http.Request, c *reqCtx, f agentForm) (agentForm, error) {
	f.RiskLevels = []string{agent.RiskStrict, agent.RiskStandard, agent.RiskPermissive}
	f.Networks = []string{agent.NetworkLimited, agent.NetworkUnrestricted}
	f.BuiltinTools = agent.BuiltinTools
	list, err := s.Agents.List(r.Context(), c.P.TenantID, agent.Filter{Limit: agent.MaxListLimit})
	if err != nil {
		return f, err
	}
	for _, a := range list {
		if a.ID != f.ID {
			f.Parents = append(f.Parents, a)
		}
	}
	return f, nil
}

func (s *Server) showAgentForm(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, f agentForm) error {
	f, err := s.withChoices(r, c, f)
	if err != nil {
		return err
	}
	title := "New agent"
	if f.ID != "" {
		title = "Agent " + f.Name
	}
	return s.render(w, r, c, status, "agent", title, "agents", f)
}

func (s *Server) newAgentPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Agents == nil {
		return notConfigured("Agent configuration")
	}
	return s.showAgentForm(w, r, c, http.StatusOK, newAgentForm())
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Agents == nil {
		return notConfigured("Agent configuration")
	}
	f := readAgentForm(r)
	p, err := f.params()
	if err == nil {
		var cfg agent.Config
		if cfg, err = s.Agents.Create(r.Context(), c.P.TenantID, c.P.KeyID, p); err == nil {
			s.flashOK(c, "Created agent "+cfg.Name+" ("+cfg.ID+").")
			return redirect(w, r, "/ui/agents/"+cfg.ID)
		}
	}
	if !isUserError(err) {
		return err
	}
	f.Error = userMessage(err)
	return s.showAgentForm(w, r, c, http.StatusUnprocessableEntity, f)
}

func (s *Server) agentPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Agents == nil {
		return notConfigured("Agent configuration")
	}
	cfg, err := s.Agents.Get(r.Context(), c.P.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := formFromConfig(cfg)
	f.Config = &cfg
	return s.showAgentForm(w, r, c, http.StatusOK, f)
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Agents == nil {
		return notConfigured("Agent configuration")
	}
	id := r.PathValue("id")
	cur, err := s.Agents.Get(r.Context(), c.P.TenantID, id)
	if err != nil {
		return err
	}
	f := readAgentForm(r)
	f.ID, f.Version, f.Archived, f.Config = cur.ID, cur.Version, cur.Archived(), &cur
	// The form says which version it edited; a newer one means someone
	// else saved in between, and saving would silently undo their change.
	if v := r.PostFormValue("version"); v != strconv.Itoa(cur.Version) {
		f.Error = "Someone saved version " + strconv.Itoa(cur.Version) + " of this agent while you edited it. Reload the page to see it, then make your change again."
		return s.showAgentForm(w, r, c, http.StatusConflict, f)
	}
	p, err := f.params()
	if err == nil {
		var cfg agent.Config
		if cfg, err = s.Agents.Update(r.Context(), c.P.TenantID, id, c.P.KeyID, p); err == nil {
			s.flashOK(c, "Saved version "+strconv.Itoa(cfg.Version)+" of "+cfg.Name+". Running sessions keep the version they started with.")
			return redirect(w, r, "/ui/agents/"+cfg.ID)
		}
	}
	if !isUserError(err) {
		return err
	}
	f.Error = userMessage(err)
	return s.showAgentForm(w, r, c, http.StatusUnprocessableEntity, f)
}

func (s *Server) archiveAgent(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Agents == nil {
		return notConfigured("Agent configuration")
	}
	cfg, err := s.Agents.Archive(r.Context(), c.P.TenantID, r.PathValue("id"), c.P.KeyID)
	if err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Not archived: "+userMessage(err))
		return redirect(w, r, "/ui/agents")
	}
	s.flashOK(c, "Archived "+cfg.Name+"; no new sessions can start, running ones go on.")
	return redirect(w, r, "/ui/agents")
}
