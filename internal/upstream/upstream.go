package upstream

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/vault"
)

// Limits and defaults of an upstream's configuration.
const (
	MaxUpstreams          = 50
	MaxCommandArgs        = 64
	MaxCommandArgBytes    = 4096
	DefaultConnectTimeout = 10 * time.Second
	DefaultCallTimeout    = 60 * time.Second
	MaxConnectTimeout     = time.Minute
	MaxCallTimeout        = 10 * time.Minute
	// Separator joins the upstream's name and the tool's own name.
	Separator = "__"
	// MaxToolNameBytes bounds a surfaced tool name (the agent
	// configuration's limit).
	MaxToolNameBytes = 128
)

// Credential placements.
const (
	InBearer = "bearer" // Authorization: Bearer <value>
	InHeader = "header" // header Param (a header credential brings its own name)
	InEnv    = "env"    // environment variable Param of a stdio command
)

// Upstream is one MCP server of a tenant.
type Upstream struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	// URL is the server's Streamable HTTP endpoint; Command is set instead
	// for a stdio server the gateway runs.
	URL        string      `json:"url,omitempty"`
	Command    []string    `json:"command,omitempty"`
	Credential *Credential `json:"credential,omitempty"`
	Timeouts   Timeouts    `json:"timeouts"`
	CreatedAt  time.Time   `json:"created_at"`
	CreatedBy  string      `json:"created_by"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// Credential names the vault credential (registered through
// /credentials/register) the gateway authenticates to the upstream with.
type Credential struct {
	ToolID string `json:"tool_id"`
	Name   string `json:"name,omitempty"`
	// In is bearer or header (HTTP), or env (stdio).
	In    string `json:"in"`
	Param string `json:"param,omitempty"`
}

// Timeouts bound connecting to the upstream and one tool call. Zero
// means the default.
type Timeouts struct {
	ConnectMS int `json:"connect_ms,omitempty"`
	CallMS    int `json:"call_ms,omitempty"`
}

// Connect is the connect timeout in effect.
func (t Timeouts) Connect() time.Duration {
	if t.ConnectMS <= 0 {
		return DefaultConnectTimeout
	}
	return time.Duration(t.ConnectMS) * time.Millisecond
}

// Call is the call timeout in effect.
func (t Timeouts) Call() time.Duration {
	if t.CallMS <= 0 {
		return DefaultCallTimeout
	}
	return time.Duration(t.CallMS) * time.Millisecond
}

// StdioToolPrefix starts the tool ID of the credential of a stdio
// upstream: "vargate_upstream_<name>", bound to the gateway's own
// connector for that upstream.
const StdioToolPrefix = "vargate_upstream_"

// CredentialToolID is the tool ID a credential must be registered under
// to be used for u: vault.HostToolID of the URL's host for an HTTP
// upstream ("http:mcp.example.com"), StdioToolPrefix and the name for a
// stdio one.
func (u *Upstream) CredentialToolID() string {
	if u.Stdio() {
		return StdioToolPrefix + u.Name
	}
	p, err := url.Parse(u.URL)
	if err != nil {
		return ""
	}
	return vault.HostToolID(p.Hostname())
}

// host is where u's credential goes: the URL's host, or "" for a stdio
// command (the vault checks it against the credential's binding).
func (u *Upstream) host() string {
	if u.Stdio() {
		return ""
	}
	p, err := url.Parse(u.URL)
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Hostname())
}

// Stdio reports whether the gateway runs the upstream as a command.
func (u *Upstream) Stdio() bool { return len(u.Command) > 0 }

// nameRE: lower-case letters, digits, '-' and single '_' (never two in a
// row nor at the end, so that "<upstream>__<tool>" splits one way).
var nameRE = regexp.MustCompile(`^[a-z](?:[a-z0-9-]|_[a-z0-9-]){0,31}$`)

var headerRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")

var envRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// Check validates a configuration. Errors are KindInvalid naming the
// field. allowStdio says whether this deployment runs stdio commands.
func (u *Upstream) Check(allowStdio bool) error {
	if !nameRE.MatchString(u.Name) {
		return vargate.Invalid("name", "must be 1-32 lower-case letters, digits, '-' or single '_', starting with a letter")
	}
	if strings.HasPrefix(u.Name, "vargate") {
		return vargate.Invalid("name", "names starting with vargate are reserved")
	}
	switch {
	case u.URL != "" && len(u.Command) > 0:
		return vargate.Invalid("url", "give url or command, not both")
	case u.URL == "" && len(u.Command) == 0:
		return vargate.Invalid("url", "required: the server's Streamable HTTP endpoint")
	case u.URL != "":
		p, err := url.Parse(u.URL)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return vargate.Invalid("url", "must be an absolute http(s) URL")
		}
		if p.User != nil {
			return vargate.Invalid("url", "must not carry credentials: register them in the vault and name them in credential")
		}
		if p.Fragment != "" {
			return vargate.Invalid("url", "must not have a fragment")
		}
	default:
		if !allowStdio {
			return vargate.Invalid("command", "stdio upstreams are turned off on this gateway (VARGATE_UPSTREAM_STDIO=true enables them on a self-hosted deployment)")
		}
		if len(u.Command) > MaxCommandArgs {
			return vargate.Invalid("command", "at most %d arguments", MaxCommandArgs)
		}
		for i, a := range u.Command {
			if len(a) > MaxCommandArgBytes || strings.ContainsRune(a, 0) || (i == 0 && strings.TrimSpace(a) == "") {
				return vargate.Invalid("command", "argument %d must be a non-empty string of at most %d bytes without NUL", i, MaxCommandArgBytes)
			}
		}
	}
	if c := u.Credential; c != nil {
		if c.ToolID == "" {
			return vargate.Invalid("credential.tool_id", "required")
		}
		// The vault sends a value only where it is bound: an HTTP
		// upstream's to the URL's host, a stdio command's to that
		// upstream alone.
		if want := u.CredentialToolID(); c.ToolID != want {
			return vargate.Invalid("credential.tool_id", "must be %q: register the credential under the tool ID bound to this upstream's destination", want)
		}
		switch c.In {
		case InBearer:
			if c.Param != "" {
				return vargate.Invalid("credential.param", "not used with in=bearer")
			}
		case InHeader:
			if c.Param != "" && !headerRE.MatchString(c.Param) {
				return vargate.Invalid("credential.param", "must be a header name")
			}
			if p := strings.ToLower(c.Param); vault.ForbiddenHeader(p) || strings.HasPrefix(p, "mcp-") {
				return vargate.Invalid("credential.param", "%q cannot carry a credential", c.Param)
			}
		case InEnv:
			if !u.Stdio() {
				return vargate.Invalid("credential.in", "env is for stdio commands; an HTTP upstream takes bearer or header")
			}
			if !envRE.MatchString(c.Param) {
				return vargate.Invalid("credential.param", "must be an environment variable name (A-Z, 0-9, _)")
			}
		default:
			return vargate.Invalid("credential.in", "must be bearer or header (or env for a stdio command)")
		}
		if u.Stdio() && c.In != InEnv {
			return vargate.Invalid("credential.in", "a stdio command takes its credential in=env")
		}
		// A host's credential never travels over plain http.
		if p, err := url.Parse(u.URL); !u.Stdio() && err == nil && p.Scheme != "https" {
			return vargate.Invalid("url", "must start with https:// when the upstream takes a credential")
		}
	}
	if t := u.Timeouts; t.ConnectMS < 0 || time.Duration(t.ConnectMS)*time.Millisecond > MaxConnectTimeout {
		return vargate.Invalid("timeouts.connect_ms", "must be from 0 (default %s) to %d", DefaultConnectTimeout, MaxConnectTimeout.Milliseconds())
	}
	if t := u.Timeouts; t.CallMS < 0 || time.Duration(t.CallMS)*time.Millisecond > MaxCallTimeout {
		return vargate.Invalid("timeouts.call_ms", "must be from 0 (default %s) to %d", DefaultCallTimeout, MaxCallTimeout.Milliseconds())
	}
	return nil
}

// Store persists upstreams and their pinned tool definitions.
type Store interface {
	// CreateUpstream stores an upstream with its first pins; KindConflict
	// if the tenant has one of that name.
	CreateUpstream(ctx context.Context, u Upstream, pins []Pin) error
	// Upstreams returns the tenant's upstreams by name.
	Upstreams(ctx context.Context, tenantID string) ([]Upstream, error)
	// Upstream returns one; KindNotFound if there is none.
	Upstream(ctx context.Context, tenantID, name string) (Upstream, error)
	// UpdateUpstream replaces an upstream's configuration; KindNotFound
	// if there is none.
	UpdateUpstream(ctx context.Context, u Upstream) error
	// DeleteUpstream removes an upstream and its pins; KindNotFound if
	// there is none.
	DeleteUpstream(ctx context.Context, tenantID, name string) error
	// Pins returns the tenant's pins by upstream and tool.
	Pins(ctx context.Context, tenantID string) ([]Pin, error)
	// SetPins inserts or replaces the upsert pins and removes the pins of
	// the tools in remove, in one transaction; KindNotFound if the
	// upstream is gone.
	SetPins(ctx context.Context, tenantID, upstream string, upsert []Pin, remove []string) error
}
