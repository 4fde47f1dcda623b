package session

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
)

// DefaultGovernanceTemplate is the governance text appended to every
// session's system prompt unless the tenant sets its own. {name}
// placeholders are filled per session (see Placeholders).
const DefaultGovernanceTemplate = `## Governance (injected by Vargate)

You are a managed agent operating under Vargate governance.
- Use the tools of the MCP server "vargate-governance" for every action with an effect outside your sandbox. Your governed tools: {allowed_tools}. Vargate checks each call against your organisation's policy, supplies any credentials itself, and records the call in a tamper-evident audit trail.
- These tools need a human's approval before they run: {approval_tools}. When a call answers that it is pending approval, tell the user, carry on with other work, and do not call it again; the outcome will be sent to you as a message.
- When Vargate denies a call, do not try to reach the same effect another way (bash, curl, web_fetch or any other tool), and never look for or use credentials yourself.
- Built-in tools that Vargate confirms call by call: {governed_builtin_tools}. Network access from your sandbox: {network_access}.
- Everything you do in this session is recorded. Session {session_id} ends at {expires_at} (at most {max_session_hours} hours).`

// MaxTemplateBytes bounds a tenant's governance template.
const MaxTemplateBytes = 16 << 10

// Placeholders are the names a governance template may use in braces.
var Placeholders = []string{
	"session_id", "tenant_id", "agent_id", "agent_name", "agent_version", "allowed_tools", "approval_tools",
	"governed_builtin_tools", "network_access", "risk_level", "max_session_hours", "expires_at", "delegation_depth",
}

var placeholderRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// ValidateTemplate checks a tenant's governance template: valid UTF-8, at
// most MaxTemplateBytes, not blank, and only known placeholders.
func ValidateTemplate(tmpl string) error {
	const field = "governance_prompt_template"
	if strings.TrimSpace(tmpl) == "" {
		return vargate.Invalid(field, "must not be blank (send null to use the default)")
	}
	if len(tmpl) > MaxTemplateBytes || !utf8.ValidString(tmpl) {
		return vargate.Invalid(field, "must be valid UTF-8 of at most %d bytes", MaxTemplateBytes)
	}
	for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
		if !isPlaceholder(m[1]) {
			return vargate.Invalid(field, "unknown placeholder {%s}; known: %s", m[1], strings.Join(Placeholders, ", "))
		}
	}
	return nil
}

func isPlaceholder(name string) bool {
	for _, p := range Placeholders {
		if p == name {
			return true
		}
	}
	return false
}

// Prompt is a session's final system prompt and its hash.
type Prompt struct {
	Text string
	// Hash is "sha256:" and the lower-case hex SHA-256 of Text.
	Hash string
}

// HashPrompt returns "sha256:" and the hex SHA-256 of text.
func HashPrompt(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RenderPrompt returns the configuration's system prompt followed by the
// governance text of tmpl (DefaultGovernanceTemplate when empty) filled in
// for the session.
func RenderPrompt(tmpl string, c agent.Config, s Session) Prompt {
	if tmpl == "" {
		tmpl = DefaultGovernanceTemplate
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ", ")
	}
	network := "unrestricted"
	if c.GovernanceProfile.Network == agent.NetworkLimited {
		network = "limited to the Vargate MCP server"
		if len(c.GovernanceProfile.AllowedDomains) > 0 {
			network += " and " + strings.Join(c.GovernanceProfile.AllowedDomains, ", ")
		}
	}
	values := map[string]string{
		"session_id":             s.ID,
		"tenant_id":              s.TenantID,
		"agent_id":               c.ID,
		"agent_name":             c.Name,
		"agent_version":          strconv.Itoa(c.Version),
		"allowed_tools":          list(c.AllowedTools),
		"approval_tools":         list(c.RequireHumanApproval),
		"governed_builtin_tools": list(c.GovernedBuiltinTools),
		"network_access":         network,
		"risk_level":             c.GovernanceProfile.RiskLevel,
		"max_session_hours":      strconv.FormatFloat(c.MaxSessionHours, 'f', -1, 64),
		"expires_at":             s.ExpiresAt.UTC().Format(time.RFC3339),
		"delegation_depth":       fmt.Sprint(s.DelegationDepth()),
	}
	governance := placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		if v, ok := values[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
	text := governance
	if base := strings.TrimRight(c.SystemPrompt, "\n"); base != "" {
		text = base + "\n\n" + governance
	}
	return Prompt{Text: text, Hash: HashPrompt(text)}
}
