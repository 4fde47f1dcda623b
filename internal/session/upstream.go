package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/vault"
)

// Upstream steps, as error messages and audit records name them.
const (
	StepCredential  = "credential"
	StepEnvironment = "environment"
	StepAgent       = "agent"
	StepVault       = "vault"
	StepSession     = "session"
	StepStream      = "stream"
	StepMessage     = "message"
	StepInterrupt   = "interrupt"
)

// MCPServerName is the name the gateway's MCP server has on every
// Anthropic agent it creates.
const MCPServerName = "vargate"

// DefaultAnthropicBaseURL is Anthropic's API.
const DefaultAnthropicBaseURL = "https://api.anthropic.com"

// Keys supplies a tenant's Anthropic API key. Each call is one audited
// release of the key.
type Keys interface {
	AnthropicKey(ctx context.Context, tenantID string, p vault.Purpose) (vault.Secret, error)
}

// VaultKeys takes the key from the tenant's `anthropic` credential in the
// vault, or Fallback (the operator's ANTHROPIC_API_KEY) when the tenant
// registered none.
type VaultKeys struct {
	Vault    *vault.Vault
	Fallback vault.Secret
}

// AnthropicKey implements Keys.
func (k VaultKeys) AnthropicKey(ctx context.Context, tenantID string, p vault.Purpose) (vault.Secret, error) {
	return k.Vault.UseOrFallback(ctx, tenantID, vault.AnthropicToolID, "", k.Fallback, p)
}

// Upstream builds SDK clients for a tenant's Anthropic account.
type Upstream struct {
	// BaseURL is Anthropic's address (ANTHROPIC_BASE_URL); empty means
	// DefaultAnthropicBaseURL.
	BaseURL string
	Keys    Keys
	// HTTPClient makes the requests; nil means the SDK's default.
	HTTPClient *http.Client
	// MaxRetries is the SDK's retry count for one call (0: none).
	MaxRetries int
	// RequestTimeout bounds one non-streaming call (0: none besides ctx).
	// Event streams opt out of it (option.WithRequestTimeout(0)): they are
	// dropped only when silent for SSE_TIMEOUT.
	RequestTimeout time.Duration
}

// Client is an SDK client with one tenant's key, and the account it
// belongs to.
type Client struct {
	anthropic.Client
	// Account identifies the Anthropic account (base URL and key) without
	// revealing the key, so resources made with one key are not looked up
	// with another.
	Account string
}

// Client returns an SDK client that uses the tenant's key. The SDK keeps
// the key in its options for the client's lifetime, so build one per
// operation and drop it.
func (u *Upstream) Client(ctx context.Context, tenantID string, p vault.Purpose) (*Client, error) {
	if u.Keys == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "no Anthropic key source is configured")
	}
	secret, err := u.Keys.AnthropicKey(ctx, tenantID, p)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return nil, vargate.Wrap(vargate.KindUnavailable, err,
				"step %s: the tenant has no Anthropic API key; register one with POST /credentials/register (tool_id \"anthropic\") or set ANTHROPIC_API_KEY", StepCredential)
		}
		return nil, fmt.Errorf("step %s: %w", StepCredential, err)
	}
	if secret.Source() == vault.SourceVault {
		// A fallback from the environment shares its bytes with every
		// later use; only a value released from the vault is ours to wipe.
		defer secret.Wipe()
	}
	key := string(secret.Reveal())
	if key == "" {
		return nil, vargate.Errorf(vargate.KindUnavailable, "step %s: the tenant's Anthropic API key is empty", StepCredential)
	}
	base := strings.TrimRight(u.BaseURL, "/")
	if base == "" {
		base = DefaultAnthropicBaseURL
	}
	sum := sha256.Sum256([]byte("vargate-anthropic-account\x00" + base + "\x00" + key))
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(base),
		option.WithAPIKey(key),
		option.WithMaxRetries(u.MaxRetries),
	}
	if u.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(u.HTTPClient))
	}
	if u.RequestTimeout > 0 {
		opts = append(opts, option.WithRequestTimeout(u.RequestTimeout))
	}
	return &Client{Client: anthropic.NewClient(opts...), Account: hex.EncodeToString(sum[:12])}, nil
}

// upstreamError turns an SDK error of step into a vargate error that
// names the step and Anthropic's request ID: KindUnavailable (503) for
// rate limits, overload, server errors and network failures, KindUpstream
// (502) for the rest.
func upstreamError(step string, err error) error {
	if err == nil {
		return nil
	}
	var ve *vargate.Error
	if errors.As(err, &ve) {
		return err // already says what failed (the credential, the store)
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		kind := vargate.KindUpstream
		if ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode >= 500 {
			kind = vargate.KindUnavailable
		}
		msg := strings.TrimSpace(ae.Message)
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		reqID := ae.RequestID
		if reqID == "" {
			reqID = "none"
		}
		return &vargate.Error{Kind: kind, Err: err, Message: fmt.Sprintf(
			"step %s: Anthropic answered %d %s: %s (request_id %s)", step, ae.StatusCode, ae.Type(), msg, reqID)}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return vargate.Wrap(vargate.KindUnavailable, err, "step %s: Anthropic could not be reached", step)
	}
	if errors.Is(err, context.Canceled) {
		return vargate.Wrap(vargate.KindUnavailable, err, "step %s: cancelled", step)
	}
	return vargate.Wrap(vargate.KindUpstream, err, "step %s: the Anthropic request failed", step)
}

// notFoundUpstream reports whether err is Anthropic's 404.
func notFoundUpstream(err error) bool {
	var ae *anthropic.Error
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// requestID returns Anthropic's request ID from an SDK error, if any.
func requestID(err error) string {
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		return ae.RequestID
	}
	return ""
}

// webDomains turns allowed hosts into the domain lists of web_fetch and
// web_search, which match subdomains by themselves.
func webDomains(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		d := strings.TrimPrefix(h, "*.")
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// builtinToolset returns the agent toolset for c: the platform's defaults
// (always_allow), except that governed built-in tools get always_ask, and
// under limited networking web_fetch and web_search are held to the
// allowed domains (or switched off when there are none: the platform's
// networking does not govern them). It is built from the SDK's typed
// params, so the compiler checks the shape the API checks.
func builtinToolset(c agent.Config) anthropic.BetaManagedAgentsAgentToolset20260401Params {
	limited := c.GovernanceProfile.Network == agent.NetworkLimited
	domains := webDomains(c.GovernanceProfile.AllowedDomains)
	configs := []anthropic.BetaManagedAgentsAgentToolConfigParamsUnion{}
	for _, name := range agent.BuiltinTools {
		ask := slices.Contains(c.GovernedBuiltinTools, name)
		var enabled param.Opt[bool]
		var allowed []string
		if limited && (name == "web_fetch" || name == "web_search") {
			if len(domains) == 0 {
				enabled = anthropic.Bool(false)
			} else {
				allowed = domains
			}
		}
		if ask || enabled.Valid() || allowed != nil {
			configs = append(configs, builtinToolConfig(name, ask, enabled, allowed))
		}
	}
	return anthropic.BetaManagedAgentsAgentToolset20260401Params{Configs: configs}
}

// builtinToolConfig is the configs entry of one built-in tool: enabled
// when set, always_ask when ask, and for the web tools the allowed
// domains. Each tool has its own SDK type.
func builtinToolConfig(name string, ask bool, enabled param.Opt[bool], allowed []string) anthropic.BetaManagedAgentsAgentToolConfigParamsUnion {
	var askPolicy *anthropic.BetaManagedAgentsAlwaysAskPolicyParam
	if ask {
		askPolicy = &anthropic.BetaManagedAgentsAlwaysAskPolicyParam{}
	}
	var u anthropic.BetaManagedAgentsAgentToolConfigParamsUnion
	switch name {
	case "bash":
		u.OfBash = &anthropic.BetaManagedAgentsBashToolConfigParams{Enabled: enabled,
			PermissionPolicy: anthropic.BetaManagedAgentsBashToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "edit":
		u.OfEdit = &anthropic.BetaManagedAgentsEditToolConfigParams{Enabled: enabled,
			PermissionPolicy: anthropic.BetaManagedAgentsEditToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "read":
		u.OfRead = &anthropic.BetaManagedAgentsReadToolConfigParams{Enabled: enabled,
			PermissionPolicy: anthropic.BetaManagedAgentsReadToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "write":
		u.OfWrite = &anthropic.BetaManagedAgentsWriteToolConfigParams{Enabled: enabled,
			PermissionPolicy: anthropic.BetaManagedAgentsWriteToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "glob":
		u.OfGlob = &anthropic.BetaManagedAgentsGlobToolConfigParams{Enabled: enabled,
			PermissionPolicy: anthropic.BetaManagedAgentsGlobToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "grep":
		u.OfGrep = &anthropic.BetaManagedAgentsGrepToolConfigParams{Enabled: enabled,
			PermissionPolicy: anthropic.BetaManagedAgentsGrepToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "web_fetch":
		u.OfWebFetch = &anthropic.BetaManagedAgentsWebFetchToolConfigParams{Enabled: enabled, AllowedDomains: allowed,
			PermissionPolicy: anthropic.BetaManagedAgentsWebFetchToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	case "web_search":
		u.OfWebSearch = &anthropic.BetaManagedAgentsWebSearchToolConfigParams{Enabled: enabled, AllowedDomains: allowed,
			PermissionPolicy: anthropic.BetaManagedAgentsWebSearchToolConfigParamsPermissionPolicyUnion{OfAlwaysAsk: askPolicy}}
	}
	return u
}

// mcpToolset is the gateway's MCP toolset with always_allow: the gateway
// decides every call itself, the platform must not ask.
func mcpToolset() *anthropic.BetaManagedAgentsMCPToolsetParams {
	return &anthropic.BetaManagedAgentsMCPToolsetParams{
		MCPServerName: MCPServerName,
		DefaultConfig: anthropic.BetaManagedAgentsMCPToolsetDefaultConfigParams{
			PermissionPolicy: anthropic.BetaManagedAgentsMCPToolsetDefaultConfigParamsPermissionPolicyUnion{
				OfAlwaysAllow: &anthropic.BetaManagedAgentsAlwaysAllowPolicyParam{},
			},
		},
	}
}

func agentMetadata(c agent.Config) map[string]string {
	return map[string]string{
		"vargate_tenant_id":     c.TenantID,
		"vargate_agent_id":      c.ID,
		"vargate_agent_version": strconv.Itoa(c.Version),
	}
}

func agentNewParams(c agent.Config, mcpURL string) anthropic.BetaAgentNewParams {
	toolset := builtinToolset(c)
	return anthropic.BetaAgentNewParams{
		Name:        c.Name,
		Description: anthropic.String("Governed by Vargate: agent configuration " + c.ID),
		Model:       anthropic.BetaManagedAgentsModelConfigParams{ID: c.AnthropicModel},
		System:      anthropic.String(c.SystemPrompt),
		MCPServers:  []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: MCPServerName, URL: mcpURL}},
		Tools: []anthropic.BetaAgentNewParamsToolUnion{
			{OfAgentToolset20260401: &toolset},
			{OfMCPToolset: mcpToolset()},
		},
		Metadata: agentMetadata(c),
	}
}

func agentUpdateParams(c agent.Config, mcpURL string, version int64) anthropic.BetaAgentUpdateParams {
	toolset := builtinToolset(c)
	return anthropic.BetaAgentUpdateParams{
		Version:    anthropic.Int(version),
		Name:       anthropic.String(c.Name),
		Model:      anthropic.BetaManagedAgentsModelConfigParams{ID: c.AnthropicModel},
		System:     anthropic.String(c.SystemPrompt),
		MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: MCPServerName, URL: mcpURL}},
		Tools: []anthropic.BetaAgentUpdateParamsToolUnion{
			{OfAgentToolset20260401: &toolset},
			{OfMCPToolset: mcpToolset()},
		},
		Metadata: agentMetadata(c),
	}
}

// environmentHash identifies the networking an environment is made with.
func environmentHash(c agent.Config) string {
	hosts := slices.Clone(c.GovernanceProfile.AllowedDomains)
	slices.Sort(hosts)
	sum := sha256.Sum256([]byte(c.GovernanceProfile.Network + "\x00" + strings.Join(hosts, "\x00")))
	return hex.EncodeToString(sum[:8])
}

func environmentParams(c agent.Config) anthropic.BetaEnvironmentNewParams {
	var networking anthropic.BetaCloudConfigParamsNetworkingUnion
	if c.GovernanceProfile.Network == agent.NetworkUnrestricted {
		networking.OfUnrestricted = &anthropic.BetaUnrestrictedNetworkParam{}
	} else {
		networking.OfLimited = &anthropic.BetaLimitedNetworkParams{
			AllowedHosts:    slices.Clone(c.GovernanceProfile.AllowedDomains),
			AllowMCPServers: anthropic.Bool(true),
		}
	}
	return anthropic.BetaEnvironmentNewParams{
		Name:        "vargate-" + c.ID + "-" + vargate.NewID("", 4),
		Description: anthropic.String("Vargate environment of agent configuration " + c.ID),
		Config:      anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{Networking: networking}},
		Metadata:    map[string]string{"vargate_tenant_id": c.TenantID, "vargate_agent_id": c.ID},
	}
}

func userMessage(text string) anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
		Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}}},
	}}
}

func interruptEvent() anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}}
}
