package agent

import (
	"context"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vargate/vargate"
)

// Defaults of a new configuration's optional fields.
const (
	DefaultModel              = "claude-sonnet-4-6"
	DefaultMaxSessionHours    = 4.0
	DefaultMaxDailySessions   = 20
	DefaultMaxDelegationDepth = 1
	DefaultRiskLevel          = RiskStandard
)

// Limits of a configuration's fields.
const (
	MinSessionHours     = 0.1
	MaxSessionHours     = 24.0
	MaxDailySessions    = 100000
	MinDelegationDepth  = 1
	MaxDelegationDepth  = 5
	MaxNameChars        = 256
	MaxSystemPrompt     = 64 << 10 // leaves room for the governance text under Anthropic's 100,000
	MaxToolNames        = 128
	MaxToolNameBytes    = 128
	MaxAllowedDomains   = 64 // Anthropic's web_fetch and web_search take at most 64
	MaxDomainBytes      = 253
	MaxModelBytes       = 128
	MaxApprovalPatterns = 128
)

// Risk levels of a governance profile (docs/POLICY.md says what each does).
const (
	RiskStrict     = "strict"
	RiskStandard   = "standard"
	RiskPermissive = "permissive"
)

// Network access modes of a governance profile.
const (
	// NetworkLimited lets the agent's container reach only AllowedDomains
	// and the gateway's MCP server.
	NetworkLimited = "limited"
	// NetworkUnrestricted gives the container full egress.
	NetworkUnrestricted = "unrestricted"
)

// BuiltinTools are the names of Anthropic's built-in agent tools; any of
// them may be listed in GovernedBuiltinTools.
var BuiltinTools = []string{"bash", "edit", "glob", "grep", "read", "web_fetch", "web_search", "write"}

// Config is one version of an agent configuration.
type Config struct {
	// ID is "agent-" and 12 hex digits.
	ID       string
	TenantID string
	// Version is 1 for a new configuration and grows by one per update.
	Version        int
	Name           string
	AnthropicModel string
	SystemPrompt   string
	// AllowedTools are the governed (MCP) tools the agent may call, by
	// exact name or glob pattern ("github__*").
	AllowedTools []string
	// RequireHumanApproval are glob patterns of tool names that need a
	// human before they run.
	RequireHumanApproval []string
	MaxSessionHours      float64
	MaxDailySessions     int
	MaxDelegationDepth   int
	GovernanceProfile    GovernanceProfile
	// ParentAgentID names the parent configuration of a sub-agent; empty
	// for a root agent.
	ParentAgentID string
	// GovernedBuiltinTools are built-in tools (bash, write, web_fetch, …)
	// that run only after the gateway confirms each call: they get the
	// platform's always_ask permission policy.
	GovernedBuiltinTools []string
	// CreatedAt is when the configuration (version 1) was created;
	// UpdatedAt when this version was.
	CreatedAt time.Time
	UpdatedAt time.Time
	// CreatedBy is the key ID that made this version.
	CreatedBy  string
	ArchivedAt *time.Time
}

// GovernanceProfile is a configuration's governance_profile.
type GovernanceProfile struct {
	// RiskLevel is strict, standard or permissive.
	RiskLevel string
	// PIIDetection makes policy act on personal data in tool arguments.
	PIIDetection bool
	// Network is NetworkLimited or NetworkUnrestricted.
	Network string
	// AllowedDomains are the hosts a limited container may reach (bare
	// hostnames or "*.example.com"); web_fetch and web_search are held to
	// them too.
	AllowedDomains []string
}

// Archived reports whether the configuration is archived.
func (c Config) Archived() bool { return c.ArchivedAt != nil }

// Allows reports whether allowed_tools lets the agent call tool: an exact
// entry, or a glob pattern that matches it (as the base policy decides).
func (c Config) Allows(tool string) bool {
	for _, a := range c.AllowedTools {
		if a == tool {
			return true
		}
		if strings.ContainsAny(a, "*?[") {
			if ok, err := path.Match(a, tool); err == nil && ok {
				return true
			}
		}
	}
	return false
}

// Params are the fields a create or update request sets. A nil field is
// not set: create takes the default, update keeps the current value.
type Params struct {
	Name                 *string
	AnthropicModel       *string
	SystemPrompt         *string
	AllowedTools         *[]string
	RequireHumanApproval *[]string
	MaxSessionHours      *float64
	MaxDailySessions     *int
	MaxDelegationDepth   *int
	GovernanceProfile    *ProfileParams
	// ParentAgentID set to "" makes the agent a root agent.
	ParentAgentID        *string
	GovernedBuiltinTools *[]string
}

// ProfileParams are the governance_profile fields a request sets; nil
// fields are not set.
type ProfileParams struct {
	RiskLevel      *string
	PIIDetection   *bool
	Network        *string
	AllowedDomains *[]string
}

// defaults returns the configuration a create starts from.
func defaults() Config {
	return Config{
		AnthropicModel:       DefaultModel,
		AllowedTools:         []string{},
		RequireHumanApproval: []string{},
		MaxSessionHours:      DefaultMaxSessionHours,
		MaxDailySessions:     DefaultMaxDailySessions,
		MaxDelegationDepth:   DefaultMaxDelegationDepth,
		GovernanceProfile: GovernanceProfile{
			RiskLevel: DefaultRiskLevel, PIIDetection: true, Network: NetworkLimited, AllowedDomains: []string{},
		},
		GovernedBuiltinTools: []string{},
	}
}

// apply sets the fields p sets on c.
func (p Params) apply(c *Config) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	list := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = slices.Clone(*v)
			if *dst == nil {
				*dst = []string{}
			}
		}
	}
	set(&c.Name, p.Name)
	set(&c.AnthropicModel, p.AnthropicModel)
	set(&c.SystemPrompt, p.SystemPrompt)
	list(&c.AllowedTools, p.AllowedTools)
	list(&c.RequireHumanApproval, p.RequireHumanApproval)
	if p.MaxSessionHours != nil {
		c.MaxSessionHours = *p.MaxSessionHours
	}
	if p.MaxDailySessions != nil {
		c.MaxDailySessions = *p.MaxDailySessions
	}
	if p.MaxDelegationDepth != nil {
		c.MaxDelegationDepth = *p.MaxDelegationDepth
	}
	if g := p.GovernanceProfile; g != nil {
		set(&c.GovernanceProfile.RiskLevel, g.RiskLevel)
		if g.PIIDetection != nil {
			c.GovernanceProfile.PIIDetection = *g.PIIDetection
		}
		set(&c.GovernanceProfile.Network, g.Network)
		list(&c.GovernanceProfile.AllowedDomains, g.AllowedDomains)
	}
	set(&c.ParentAgentID, p.ParentAgentID)
	list(&c.GovernedBuiltinTools, p.GovernedBuiltinTools)
}

var (
	toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	modelRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]*$`)
	labelRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	patternRE  = regexp.MustCompile(`^[A-Za-z0-9_.*?\[\]!^-]+$`)
)

// Validate checks every field of c except the parent, whose existence and
// depth the Service checks against the store. Errors are KindInvalid and
// name the request field at fault.
func (c Config) Validate() error {
	name := strings.TrimSpace(c.Name)
	switch {
	case name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(c.Name) > MaxNameChars:
		return invalid("name", "at most %d characters", MaxNameChars)
	case hasControl(c.Name):
		return invalid("name", "must not contain control characters")
	}
	if c.AnthropicModel == "" || len(c.AnthropicModel) > MaxModelBytes || !modelRE.MatchString(c.AnthropicModel) {
		return invalid("anthropic_model", "must be a model name such as %s (letters, digits, '.', '_', ':', '@', '-'; at most %d)", DefaultModel, MaxModelBytes)
	}
	if len(c.SystemPrompt) > MaxSystemPrompt || !utf8.ValidString(c.SystemPrompt) {
		return invalid("system_prompt", "must be valid UTF-8 of at most %d bytes", MaxSystemPrompt)
	}
	if err := checkNames("allowed_tools", c.AllowedTools, MaxToolNames, func(s string) string {
		if len(s) > MaxToolNameBytes || !toolNameRE.MatchString(s) && !patternRE.MatchString(s) {
			return fmt.Sprintf("must be a tool name of letters, digits, '_', '.' and '-', or a pattern with the wildcards * ? [ ] (at most %d bytes)", MaxToolNameBytes)
		}
		if _, err := path.Match(s, ""); err != nil {
			return "is not a valid pattern: " + err.Error()
		}
		return ""
	}); err != nil {
		return err
	}
	if err := checkNames("require_human_approval", c.RequireHumanApproval, MaxApprovalPatterns, func(s string) string {
		if len(s) > MaxToolNameBytes || !patternRE.MatchString(s) {
			return "must be a tool name pattern of letters, digits, '_', '.', '-' and the wildcards * ? [ ]"
		}
		if _, err := path.Match(s, ""); err != nil {
			return "is not a valid pattern: " + err.Error()
		}
		return ""
	}); err != nil {
		return err
	}
	if math.IsNaN(c.MaxSessionHours) || c.MaxSessionHours < MinSessionHours || c.MaxSessionHours > MaxSessionHours {
		return invalid("max_session_hours", "must be from %.1f to %.1f", MinSessionHours, MaxSessionHours)
	}
	if c.MaxDailySessions < 1 || c.MaxDailySessions > MaxDailySessions {
		return invalid("max_daily_sessions", "must be from 1 to %d", MaxDailySessions)
	}
	if c.MaxDelegationDepth < MinDelegationDepth || c.MaxDelegationDepth > MaxDelegationDepth {
		return invalid("max_delegation_depth", "must be from %d to %d", MinDelegationDepth, MaxDelegationDepth)
	}
	g := c.GovernanceProfile
	switch g.RiskLevel {
	case RiskStrict, RiskStandard, RiskPermissive:
	default:
		return invalid("governance_profile.risk_level", "must be strict, standard or permissive")
	}
	switch g.Network {
	case NetworkLimited:
	case NetworkUnrestricted:
		if len(g.AllowedDomains) > 0 {
			return invalid("governance_profile.network_access.allowed_domains", "must be empty when network access is unrestricted")
		}
	default:
		return invalid("governance_profile.network_access.type", "must be limited or unrestricted")
	}
	if err := checkNames("governance_profile.network_access.allowed_domains", g.AllowedDomains, MaxAllowedDomains, func(s string) string {
		if !validHost(s) {
			return "must be a bare lower-case hostname such as api.example.com or *.example.com (no scheme, port or path)"
		}
		return ""
	}); err != nil {
		return err
	}
	if err := checkNames("governed_builtin_tools", c.GovernedBuiltinTools, len(BuiltinTools), func(s string) string {
		if !slices.Contains(BuiltinTools, s) {
			return "is not a built-in tool (" + strings.Join(BuiltinTools, ", ") + ")"
		}
		return ""
	}); err != nil {
		return err
	}
	return nil
}

// checkNames checks a list: at most max entries, no duplicates, and each
// accepted by bad (which returns a complaint or "").
func checkNames(field string, list []string, max int, bad func(string) string) error {
	if len(list) > max {
		return invalid(field, "at most %d entries", max)
	}
	seen := make(map[string]bool, len(list))
	for i, s := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		if s == "" {
			return invalid(f, "must not be empty")
		}
		if msg := bad(s); msg != "" {
			return invalid(f, "%s", msg)
		}
		if seen[s] {
			return invalid(f, "%q is listed twice", s)
		}
		seen[s] = true
	}
	return nil
}

// validHost reports whether s is a bare hostname or a "*." wildcard of one.
func validHost(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > MaxDomainBytes {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) > 63 || !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// Filter selects configurations for List.
type Filter struct {
	// IncludeArchived lists archived configurations too.
	IncludeArchived bool
	// ParentAgentID lists only the sub-agents of one configuration.
	ParentAgentID string
	// Before is the pagination cursor: configurations created before it
	// (ties broken by ID, which must then be set in BeforeID).
	Before   time.Time
	BeforeID string
	// Limit caps the list (DefaultListLimit when 0, at most MaxListLimit).
	Limit int
}

// Page sizes for List.
const (
	DefaultListLimit = vargate.DefaultListLimit
	MaxListLimit     = vargate.MaxListLimit
)

// EffectiveLimit returns f.Limit clamped to [1, MaxListLimit].
func (f Filter) EffectiveLimit() int { return vargate.ListLimit(f.Limit) }

// Store persists configurations.
type Store interface {
	// Create inserts version 1 of a new configuration.
	Create(ctx context.Context, c Config) error
	// Get returns the current version of the tenant's configuration, or a
	// not-found error (also for another tenant's ID).
	Get(ctx context.Context, tenantID, id string) (Config, error)
	// GetVersion returns one version of the tenant's configuration.
	GetVersion(ctx context.Context, tenantID, id string, version int) (Config, error)
	// List returns the tenant's configurations (current versions), newest
	// first.
	List(ctx context.Context, tenantID string, f Filter) ([]Config, error)
	// Update stores c as the next version if the current version is
	// still c.Version-1; otherwise it returns a conflict.
	Update(ctx context.Context, c Config) error
	// Archive sets archived_at once and returns the configuration.
	Archive(ctx context.Context, tenantID, id string, at time.Time) (Config, error)
}
