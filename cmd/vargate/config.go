package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the gateway's whole configuration: defaults, then environment
// variables, then flags, then Validate. Every setting is listed once, in
// settings(), which also drives flags, help and `vargate config`.
type Config struct {
	Listen       string
	DataDir      string
	DatabaseURL  string
	AutoMigrate  bool
	LogLevel     string
	LogFormat    string
	MaxBodyBytes int64

	TrustedProxies []netip.Prefix
	MCPIPAllowlist []netip.Prefix
	MCPServerURL   string
	// mcpURLDefault is set when MCPServerURL was derived from Listen.
	mcpURLDefault bool
	// MCPAllowedOrigins are browser origins allowed to call the MCP server
	// besides MCPServerURL's own.
	MCPAllowedOrigins []string
	// MCPMaxBatch bounds the messages of one JSON-RPC batch.
	MCPMaxBatch int
	// WebSearchURL is the vargate_web_search endpoint (Brave Search API shape).
	WebSearchURL string
	// AllowPrivateTargets lets governed tools reach private, loopback and
	// link-local addresses (tests, single-host deployments).
	AllowPrivateTargets bool
	// ToolCAFile is a PEM file of extra CA certificates trusted by HTTP
	// tools and MCP upstreams (a private CA), besides the system's.
	ToolCAFile string
	// UpstreamStdio lets admins declare upstream MCP servers as stdio
	// commands the gateway runs (self-hosted deployments only).
	UpstreamStdio bool

	AnthropicAPIKey  string
	AnthropicBaseURL string

	DefaultMaxConcurrentSessions int
	SSETimeout                   time.Duration

	BootstrapTenant string

	ApprovalTTL         time.Duration
	WebhookAllowPrivate bool
	// MetricsToken is the bearer token of the operator's full /metrics.
	MetricsToken string
	// WebhookRetention is how long finished webhook deliveries are kept;
	// zero keeps them forever.
	WebhookRetention time.Duration
	// ObserveRetention is how long the event consumer's state of an ended
	// session is kept; zero keeps it forever.
	ObserveRetention time.Duration
	// PolicyRefresh is how often the engine reads which policy versions
	// are active, to follow activations made by other gateways.
	PolicyRefresh time.Duration

	// BenchTools adds the no-op tool vargate_noop (load tests only).
	BenchTools bool
	// PolicySidecarURL, when set, makes governed calls decide through an
	// OPA server's decision URL instead of the embedded engine: the
	// sidecar design, kept as a comparison mode for `vargate bench`.
	PolicySidecarURL string
}

// setting is one configuration value with its names and parser.
type setting struct {
	env    string
	flag   string
	def    string
	usage  string
	secret bool
	// arg names the flag's value in help ("duration", "url", …); "bool"
	// makes it a boolean flag (--name alone means true); "" is "string".
	arg   string
	parse func(string) error
	show  func() string
}

func (c *Config) settings() []setting {
	return []setting{
		{env: "VARGATE_LISTEN", flag: "listen", arg: "addr", def: "127.0.0.1:8000", usage: "address the gateway listens on",
			parse: func(v string) error {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return fmt.Errorf("want host:port: %w", err)
				}
				c.Listen = v
				return nil
			}, show: func() string { return c.Listen }},
		{env: "VARGATE_DATA_DIR", flag: "data-dir", arg: "dir", def: "./data", usage: "directory for the SQLite file and local keys",
			parse: func(v string) error {
				if v == "" {
					return errors.New("must not be empty")
				}
				c.DataDir = v
				return nil
			}, show: func() string { return c.DataDir }},
		{env: "DATABASE_URL", flag: "database-url", arg: "url", def: "", usage: "postgres://… for PostgreSQL; empty for the SQLite file in the data directory", secret: true,
			parse: func(v string) error {
				if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") && !strings.HasPrefix(v, "sqlite:") {
					return errors.New("want postgres://…, postgresql://…, sqlite:PATH or empty")
				}
				c.DatabaseURL = v
				return nil
			}, show: func() string { return maskURL(c.DatabaseURL) }},
		{env: "VARGATE_AUTO_MIGRATE", flag: "migrate", arg: "bool", def: "true", usage: "apply schema migrations at start-up",
			parse: boolInto(&c.AutoMigrate), show: func() string { return strconv.FormatBool(c.AutoMigrate) }},
		{env: "VARGATE_LOG_LEVEL", flag: "log-level", arg: "level", def: "info", usage: "debug, info, warn or error",
			parse: oneOf(&c.LogLevel, "debug", "info", "warn", "error"), show: func() string { return c.LogLevel }},
		{env: "VARGATE_LOG_FORMAT", flag: "log-format", arg: "format", def: "auto", usage: "text, json, or auto (text on a terminal)",
			parse: oneOf(&c.LogFormat, "auto", "text", "json"), show: func() string { return c.LogFormat }},
		{env: "VARGATE_MAX_BODY_BYTES", flag: "max-body-bytes", arg: "bytes", def: "1048576", usage: "largest request body accepted",
			parse: func(v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 || n > 64<<20 {
					return errors.New("want a byte count from 1024 to 67108864")
				}
				c.MaxBodyBytes = n
				return nil
			}, show: func() string { return strconv.FormatInt(c.MaxBodyBytes, 10) }},
		{env: "VARGATE_TRUSTED_PROXIES", flag: "trusted-proxies", arg: "list", def: "", usage: "comma-separated addresses/CIDRs whose X-Forwarded-For is believed",
			parse: prefixesInto(&c.TrustedProxies), show: func() string { return joinPrefixes(c.TrustedProxies) }},
		{env: "MCP_IP_ALLOWLIST", flag: "mcp-ip-allowlist", arg: "list", def: "", usage: "comma-separated addresses/CIDRs allowed to call the MCP server (empty: any)",
			parse: prefixesInto(&c.MCPIPAllowlist), show: func() string { return joinPrefixes(c.MCPIPAllowlist) }},
		{env: "VARGATE_MCP_SERVER_URL", flag: "mcp-server-url", arg: "url", def: "", usage: "public URL of the MCP endpoint given to agents (default http://LISTEN/api/mcp/server)",
			parse: func(v string) error {
				if v != "" {
					u, err := url.Parse(v)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						return errors.New("want an absolute http(s) URL")
					}
				}
				c.MCPServerURL = v
				return nil
			}, show: func() string { return c.MCPServerURL }},
		{env: "VARGATE_MCP_ALLOWED_ORIGINS", flag: "mcp-allowed-origins", arg: "list", def: "", usage: "comma-separated browser origins (https://host[:port]) allowed to call the MCP server besides the MCP server URL's own; requests without Origin are not browsers and always pass",
			parse: func(v string) error {
				c.MCPAllowedOrigins = nil
				for _, o := range strings.Split(v, ",") {
					if o = strings.TrimSpace(o); o == "" {
						continue
					}
					u, err := url.Parse(o)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
						return fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
					}
					c.MCPAllowedOrigins = append(c.MCPAllowedOrigins, o)
				}
				return nil
			}, show: func() string { return strings.Join(c.MCPAllowedOrigins, ",") }},
		{env: "VARGATE_MCP_MAX_BATCH", flag: "mcp-max-batch", arg: "int", def: "10", usage: "most messages in one JSON-RPC batch (protocol 2025-03-26) on the MCP server; a larger batch is refused whole, before any of it runs",
			parse: func(v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 1000 {
					return errors.New("want a number from 1 to 1000")
				}
				c.MCPMaxBatch = n
				return nil
			}, show: func() string { return strconv.Itoa(c.MCPMaxBatch) }},
		{env: "VARGATE_WEB_SEARCH_URL", flag: "web-search-url", arg: "url", def: "https://api.search.brave.com/res/v1/web/search", usage: "web search API endpoint for vargate_web_search (Brave Search API shape; the tenant's key is registered with tool_id vargate_web_search)",
			parse: func(v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want an absolute http(s) URL")
				}
				c.WebSearchURL = v
				return nil
			}, show: func() string { return c.WebSearchURL }},
		{env: "VARGATE_ALLOW_PRIVATE_TARGETS", flag: "allow-private-targets", arg: "bool", def: "false", usage: "let governed tools (HTTP, e-mail, database) reach private, loopback and link-local addresses: for tests and single-host deployments only",
			parse: boolInto(&c.AllowPrivateTargets), show: func() string { return strconv.FormatBool(c.AllowPrivateTargets) }},
		{env: "VARGATE_TOOL_CA_FILE", flag: "tool-ca-file", arg: "file", def: "", usage: "PEM file of extra CA certificates that HTTP tools and upstream MCP servers are trusted under, besides the system's (internal services with a private CA; credentials go only over https)",
			parse: func(v string) error { c.ToolCAFile = v; return nil }, show: func() string { return c.ToolCAFile }},
		{env: "VARGATE_UPSTREAM_STDIO", flag: "upstream-stdio", arg: "bool", def: "false", usage: "let admins add upstream MCP servers as stdio commands the gateway runs (self-hosted deployments only: the command runs as the gateway)",
			parse: boolInto(&c.UpstreamStdio), show: func() string { return strconv.FormatBool(c.UpstreamStdio) }},
		{env: "ANTHROPIC_API_KEY", flag: "anthropic-api-key", arg: "key", def: "", usage: "fallback Anthropic key for tenants without an `anthropic` credential", secret: true,
			parse: func(v string) error { c.AnthropicAPIKey = v; return nil }, show: func() string { return mask(c.AnthropicAPIKey) }},
		{env: "ANTHROPIC_BASE_URL", flag: "anthropic-base-url", arg: "url", def: "https://api.anthropic.com", usage: "Anthropic API address (point at `vargate sim` for local use)",
			parse: func(v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want an absolute http(s) URL")
				}
				c.AnthropicBaseURL = strings.TrimRight(v, "/")
				return nil
			}, show: func() string { return c.AnthropicBaseURL }},
		{env: "DEFAULT_MAX_CONCURRENT_SESSIONS", flag: "max-concurrent-sessions", arg: "int", def: "10", usage: "active sessions allowed per tenant",
			parse: intInto(&c.DefaultMaxConcurrentSessions, 1, 100000), show: func() string { return strconv.Itoa(c.DefaultMaxConcurrentSessions) }},
		{env: "SSE_TIMEOUT", flag: "sse-timeout", arg: "seconds", def: "300", usage: "seconds an event stream may stay silent before the consumer reconnects",
			parse: func(v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 86400 {
					return errors.New("want whole seconds from 1 to 86400")
				}
				c.SSETimeout = time.Duration(n) * time.Second
				return nil
			}, show: func() string { return strconv.Itoa(int(c.SSETimeout / time.Second)) }},
		{env: "VARGATE_BOOTSTRAP_TENANT", flag: "bootstrap-tenant", arg: "name", def: "default", usage: "name of the tenant created (with an admin key printed once) when the database has none; empty to disable",
			parse: func(v string) error { c.BootstrapTenant = v; return nil }, show: func() string { return c.BootstrapTenant }},
		{env: "VARGATE_APPROVAL_TTL", flag: "approval-ttl", arg: "duration", def: "24h", usage: "how long a queued action waits for a human before it expires (a duration such as 24h or 90m, or seconds)",
			parse: func(v string) error {
				d, err := time.ParseDuration(v)
				if n, nerr := strconv.Atoi(v); nerr == nil {
					d, err = time.Duration(n)*time.Second, nil
				}
				if err != nil || d < time.Minute || d > 30*24*time.Hour {
					return errors.New("want a duration from 1m to 720h (such as 24h), or whole seconds")
				}
				c.ApprovalTTL = d
				return nil
			}, show: func() string { return c.ApprovalTTL.String() }},
		{env: "VARGATE_POLICY_REFRESH", flag: "policy-refresh", arg: "duration", def: "2s", usage: "how often the gateway reads which policy versions are active, to follow activations made through other gateways on the same database (a duration from 100ms to 1m)",
			parse: func(v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 100*time.Millisecond || d > time.Minute {
					return errors.New("want a duration from 100ms to 1m (such as 2s)")
				}
				c.PolicyRefresh = d
				return nil
			}, show: func() string { return c.PolicyRefresh.String() }},
		{env: "VARGATE_METRICS_TOKEN", flag: "metrics-token", arg: "token", def: "", usage: "bearer token of the full /metrics view (every tenant, the runtime); without it a tenant's admin key sees only its own tenant's request counts", secret: true,
			parse: func(v string) error { c.MetricsToken = v; return nil }, show: func() string { return mask(c.MetricsToken) }},
		{env: "VARGATE_WEBHOOK_ALLOW_PRIVATE", flag: "webhook-allow-private", arg: "bool", def: "false", usage: "allow webhook endpoints on private, loopback and link-local addresses, and plain http (tests, private deployments)",
			parse: boolInto(&c.WebhookAllowPrivate), show: func() string { return strconv.FormatBool(c.WebhookAllowPrivate) }},
		{env: "VARGATE_WEBHOOK_RETENTION", flag: "webhook-retention", arg: "duration", def: "720h", usage: "how long finished webhook deliveries (delivered, failed, cancelled) and their attempts are kept for the delivery log (a duration such as 720h; 0 keeps them forever; pending ones are never pruned)",
			parse: retentionInto(&c.WebhookRetention), show: func() string { return showRetention(c.WebhookRetention) }},
		{env: "VARGATE_OBSERVE_RETENTION", flag: "observe-retention", arg: "duration", def: "168h", usage: "how long the event consumer's working state of an ended session (stored event IDs, tool uses) is kept; the audit trail keeps what it recorded (a duration such as 168h; 0 keeps it forever)",
			parse: retentionInto(&c.ObserveRetention), show: func() string { return showRetention(c.ObserveRetention) }},
		{env: "VARGATE_BENCH_TOOLS", flag: "bench-tools", arg: "bool", def: "false", usage: "offer the no-op tool vargate_noop (answers at once) to agents that allow it: for load tests (vargate bench) only",
			parse: boolInto(&c.BenchTools), show: func() string { return strconv.FormatBool(c.BenchTools) }},
		{env: "VARGATE_POLICY_SIDECAR_URL", flag: "policy-sidecar-url", arg: "url", def: "", usage: "comparison mode for benchmarks: decide governed calls through this OPA decision URL (base policy only; tenant policy versions are ignored) instead of the embedded engine",
			parse: func(v string) error {
				if v != "" {
					u, err := url.Parse(v)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						return errors.New("want an absolute http(s) URL such as http://127.0.0.1:8181/v1/data/vargate/base/result")
					}
				}
				c.PolicySidecarURL = v
				return nil
			}, show: func() string { return c.PolicySidecarURL }},
	}
}

// LoadConfig builds the configuration from defaults, the environment and
// the flags in args. Errors name the variable or flag at fault.
func LoadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, []string, error) {
	return LoadConfigFlags(fs, args, getenv, nil)
}

// LoadConfigFlags is LoadConfig offering only the settings whose flag
// names are in only as flags (every setting when only is nil): a command
// that needs just the database does not list the gateway's flags. The
// environment is read for every setting.
func LoadConfigFlags(fs *flag.FlagSet, args []string, getenv func(string) string, only []string) (*Config, []string, error) {
	c := &Config{}
	ss := c.settings()
	flagVals := make([]*settingValue, len(ss))
	for i, s := range ss {
		if only != nil && !slices.Contains(only, s.flag) {
			continue
		}
		flagVals[i] = &settingValue{arg: s.arg}
		fs.Var(flagVals[i], s.flag, fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for i, s := range ss {
		v, from := s.def, "default of "+s.env
		if e := getenv(s.env); e != "" {
			v, from = e, s.env
		}
		if flagVals[i] != nil && set[s.flag] {
			v, from = flagVals[i].v, "--"+s.flag
		}
		if err := s.parse(strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if c.MCPServerURL == "" {
		c.MCPServerURL = defaultMCPServerURL(c.Listen)
		c.mcpURLDefault = true
	}
	return c, positional, nil
}

// defaultMCPServerURL is the MCP server's URL on the gateway listening at
// addr, when VARGATE_MCP_SERVER_URL does not say.
func defaultMCPServerURL(addr string) string { return "http://" + addr + "/api/mcp/server" }

// Listening completes the configuration once the gateway listens on
// addr: a default MCP server URL names the port actually taken (with
// VARGATE_LISTEN on port 0). It returns a warning when that default
// names an address no agent can reach (an unspecified host such as
// 0.0.0.0), "" otherwise.
func (c *Config) Listening(addr net.Addr) string {
	if !c.mcpURLDefault {
		return ""
	}
	c.MCPServerURL = defaultMCPServerURL(addr.String())
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil && ap.Addr().IsUnspecified() {
		return "VARGATE_MCP_SERVER_URL is not set and the gateway listens on every address: sessions will give agents " +
			c.MCPServerURL + ", which they cannot reach; set VARGATE_MCP_SERVER_URL to the gateway's public URL"
	}
	return ""
}

// SQLitePath is the database file used when DATABASE_URL is not PostgreSQL.
func (c *Config) SQLitePath() string {
	if p, ok := strings.CutPrefix(c.DatabaseURL, "sqlite:"); ok {
		return p
	}
	return filepath.Join(c.DataDir, "vargate.db")
}

// UsesPostgres reports whether the store is PostgreSQL.
func (c *Config) UsesPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// Print writes the effective settings with secrets masked.
func (c *Config) Print(w io.Writer) {
	ss := c.settings()
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].env < ss[j].env })
	for _, s := range ss {
		fmt.Fprintf(w, "%s=%s\n", s.env, s.show())
	}
}

// settingValue is the flag of a setting: it keeps the text given, which
// the setting parses with the environment's rules.
type settingValue struct {
	v, arg string
}

func (s *settingValue) String() string     { return s.v }
func (s *settingValue) Set(v string) error { s.v = v; return nil }

// IsBoolFlag makes a boolean setting's flag take no value (--migrate).
func (s *settingValue) IsBoolFlag() bool { return s.arg == "bool" }

// Placeholder names the value in help.
func (s *settingValue) Placeholder() string {
	if s.arg == "" {
		return "string"
	}
	return s.arg
}

func boolInto(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*dst = b
		return nil
	}
}

func intInto(dst *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		*dst = n
		return nil
	}
}

func oneOf(dst *string, allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				*dst = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

// prefixesInto parses a comma-separated list of addresses and CIDRs.
func prefixesInto(dst *[]netip.Prefix) func(string) error {
	return func(v string) error {
		*dst = nil
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if p, err := netip.ParsePrefix(part); err == nil {
				*dst = append(*dst, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(part)
			if err != nil {
				return fmt.Errorf("%q is not an IP address or CIDR", part)
			}
			*dst = append(*dst, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
		return nil
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// mask hides a secret but says whether one is set.
func mask(s string) string {
	if s == "" {
		return ""
	}
	return "****(set)"
}

// maskURL hides the password of a database URL, in the user part or as a
// password= query parameter.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return mask(s)
	}
	masked := ""
	if u.User != nil {
		masked = u.User.Username() + "@"
		if _, has := u.User.Password(); has {
			masked = u.User.Username() + ":****@"
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "****")
	}
	u.User = nil
	u.RawQuery = ""
	out := strings.Replace(u.String(), "://", "://"+masked, 1)
	if len(q) > 0 {
		out += "?" + strings.ReplaceAll(q.Encode(), "%2A", "*")
	}
	return out
}

// parseInterspersed parses flags that may appear before, between or after
// positional arguments ("tenant create acme --json"); "--" ends flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// retentionInto parses a retention: 0 (keep forever) or a duration of at
// least an hour.
func retentionInto(d *time.Duration) func(string) error {
	return func(v string) error {
		if v == "0" {
			*d = 0
			return nil
		}
		p, err := time.ParseDuration(v)
		if err != nil || p < time.Hour {
			return errors.New("want 0 (keep forever) or a duration of at least 1h, such as 720h")
		}
		*d = p
		return nil
	}
}

func showRetention(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}
