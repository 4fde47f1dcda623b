package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/cache"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/tools"
)

// Paths the server is mounted at.
const (
	Path       = "/mcp/server"
	APIPath    = "/api/mcp/server"
	HealthPath = "/health" // below Path and APIPath
)

// ServerName is the implementation name given to clients.
const ServerName = "vargate-governance"

// DefaultMaxBodyBytes bounds a request body when Server.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 4 << 20

// DefaultAuthCacheTTL is Server.AuthCacheTTL when zero.
const DefaultAuthCacheTTL = time.Second

// Authenticator resolves a bearer credential (auth.Service).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (vargate.Principal, error)
}

// Server is the MCP endpoint. Set the fields, then call Handler or Mount.
type Server struct {
	Governor *govern.Governor
	Auth     Authenticator
	Logger   *slog.Logger
	// IPAllowlist restricts callers by address (MCP_IP_ALLOWLIST); empty
	// allows any.
	IPAllowlist netguard.Allowlist
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (VARGATE_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// AllowedOrigins are the browser origins ("https://app.example.com")
	// that may call; a request without Origin (every agent runtime) is
	// not a browser and passes. Any other Origin gets 403.
	AllowedOrigins []string
	// PublicURL is the scheme and host clients reach the gateway at
	// ("https://gateway.example.com"), for the RFC 9728 metadata and the
	// 401 challenge that points to it; empty takes the request's.
	PublicURL    string
	MaxBodyBytes int64
	// MaxBatch bounds the messages of one JSON-RPC batch; a larger batch
	// is refused whole. Zero means DefaultMaxBatch.
	MaxBatch int
	// AuthCacheTTL is how long a successful authentication is reused for
	// the same token, sparing a database read per call; a revoked key or
	// an ended session's token stops working within it. Zero means
	// DefaultAuthCacheTTL; negative turns the cache off.
	AuthCacheTTL time.Duration
	// Now is the clock of the cache (time.Now if nil).
	Now vargate.Clock

	once     sync.Once
	handler  http.Handler
	authed   cache.Cache[[32]byte, vargate.Principal] // token hash → principal
	mu       sync.Mutex
	servers  *cache.Cache[string, *tenantServer] // tenant ID → its MCP server
	inflight inflight                            // calls cancellable by notification
	// noFastPath sends every request to the SDK (the differential test
	// compares both paths).
	noFastPath atomic.Bool
	// fastCalls counts the calls the fast path answered.
	fastCalls atomic.Int64
}

// maxTenantServers bounds the tenants' MCP servers kept; the least
// recently used is rebuilt when next needed.
const maxTenantServers = 10000

// tenantServer is one tenant's MCP server, built from one tool set.
type tenantServer struct {
	set *tools.Set
	srv *mcp.Server
	// fast names the tools the fast path may call: those the SDK server
	// has, without arguments bound to headers (x-mcp-header).
	fast map[string]bool
}

// Mount adds the endpoint, under /mcp/server and /api/mcp/server, and
// their unauthenticated health checks to mux.
func (s *Server) Mount(mux *http.ServeMux) {
	h := s.Handler()
	for _, p := range []string{Path, APIPath} {
		mux.Handle(p, h)
		mux.HandleFunc("GET "+p+HealthPath, s.health)
		mux.HandleFunc("GET "+WellKnownPrefix+p, s.resourceMetadata)
	}
}

// HealthResponse is the body of GET /mcp/server/health.
type HealthResponse struct {
	Status           string   `json:"status"`
	Server           string   `json:"server"`
	Transport        string   `json:"transport"`
	ProtocolVersions []string `json:"protocol_versions"`
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(HealthResponse{
		Status: "ok", Server: ServerName, Transport: "streamable-http", ProtocolVersions: mcp.SupportedProtocolVersions(),
	})
}

// Handler returns the MCP endpoint with its checks in front.
func (s *Server) Handler() http.Handler {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		limit := s.bodyLimit()
		mcpHandler := mcp.NewStreamableHTTPHandler(s.serverFor, &mcp.StreamableHTTPOptions{
			Stateless: true,
			// The SDK's own logging at Info reports every request.
			Logger:              warnOnly(s.Logger),
			MaxRequestBodyBytes: limit,
			// Its DNS-rebinding check refuses a non-local Host arriving on
			// a loopback address, which is every request behind a reverse
			// proxy on the same machine. Rebinding is answered here by
			// the Origin check and by the bearer token every request needs.
			DisableLocalhostProtection: true,
		})
		// RequireBearerToken only moves the principal, already
		// authenticated by s.authenticate, into the SDK's TokenInfo, for
		// the SDK's tool handlers: the fast path, which reads the
		// principal from the context, goes before it.
		tokenInfo := auth.RequireBearerToken(principalTokenInfo, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
		s.handler = s.headers(s.allowlist(s.origin(s.authenticate(s.readBody(s.batchLimit(s.methods(s.cancellable(s.fastPath(tokenInfo(mcpHandler))))))))))
	})
	return s.handler
}

// bodyLimit is MaxBodyBytes or its default.
func (s *Server) bodyLimit() int64 {
	if s.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return s.MaxBodyBytes
}

// principalKey holds the TokenInfo's principal.
const principalKey = "vargate.principal"

// principalTokenInfo turns the authenticated principal in the request's
// context into the SDK's TokenInfo, which reaches tool handlers as
// req.Extra.TokenInfo, with the request's context (see cancel.go).
func principalTokenInfo(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
	p, ok := vargate.FromContext(ctx)
	if !ok {
		return nil, auth.ErrInvalidToken
	}
	return &auth.TokenInfo{UserID: p.TenantID + "/" + p.KeyID, Scopes: []string{"tools"},
		Extra: map[string]any{principalKey: p, requestCtxKey: r.Context()}}, nil
}

// principalOf returns the principal of a tool request.
func principalOf(extra *mcp.RequestExtra) (vargate.Principal, bool) {
	if extra == nil || extra.TokenInfo == nil {
		return vargate.Principal{}, false
	}
	p, ok := extra.TokenInfo.Extra[principalKey].(vargate.Principal)
	return p, ok
}

// serverFor returns the MCP server of the request's tenant. The SDK calls
// it twice per request, so it is a map lookup unless the tenant's tool set
// changed.
func (s *Server) serverFor(r *http.Request) *mcp.Server {
	ts := s.tenant(r)
	if ts == nil {
		return nil
	}
	return ts.srv
}

// tenant returns the MCP server of the request's tenant and what it was
// built from.
func (s *Server) tenant(r *http.Request) *tenantServer {
	p, ok := vargate.FromContext(r.Context())
	if !ok {
		return nil
	}
	set, err := s.Governor.Tools.Set(r.Context(), p.TenantID)
	if err != nil {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "cannot load the tenant's tools",
			slog.String(logKeyTenant, p.TenantID), slog.String(logKeyError, err.Error()))
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.servers == nil {
		s.servers = cache.New[string, *tenantServer](maxTenantServers)
	}
	if ts, _ := s.servers.Get(p.TenantID, time.Time{}); ts != nil && ts.set == set {
		return ts
	}
	ts := s.newTenantServer(set)
	s.servers.Add(p.TenantID, ts, time.Time{})
	return ts
}

// Log attribute keys.
const (
	logKeyTenant = "tenant_id"
	logKeyTool   = "tool"
	logKeyError  = "error"
	logKeyAddr   = "client_addr"
	logKeyOrigin = "origin"
)

// implementation is the server's self-description, in the initialize
// result and (protocol 2026-07-28) in each result's _meta.
func implementation() *mcp.Implementation {
	return &mcp.Implementation{Name: ServerName, Title: "Vargate governed tools", Version: vargate.Version}
}

// newTenantServer builds the MCP server of one tool set.
func (s *Server) newTenantServer(set *tools.Set) *tenantServer {
	srv := mcp.NewServer(implementation(), &mcp.ServerOptions{
		Instructions: "Tools served by the Vargate governance gateway. Every call is checked against your organisation's policy and recorded. " +
			"A call may be denied (the result says why) or held for human approval (the result gives an action ID; check it with vargate_approval_status).",
		Logger: warnOnly(s.Logger),
		// No logging capability (deprecated); tools only. The list never
		// changes during a request, so no list_changed.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		// Tool lists differ per agent configuration: never shared caches.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope = "private"; c.TTLMs = 0 },
	})
	ts := &tenantServer{set: set, srv: srv, fast: map[string]bool{}}
	for _, t := range set.Tools {
		if mt, ok := s.addTool(srv, set.TenantID, t); ok && !bindsHeaders(mt) {
			ts.fast[t.Name] = true
		}
	}
	srv.AddReceivingMiddleware(s.middleware(set))
	return ts
}

// bindsHeaders reports whether a tool's input schema binds arguments to
// Mcp-Param headers, which the SDK checks and the fast path does not.
func bindsHeaders(t *mcp.Tool) bool {
	raw, ok := t.InputSchema.(json.RawMessage)
	return !ok || bytes.Contains(raw, []byte("x-mcp-header"))
}

// addTool adds one tool and reports whether it was added. The SDK panics
// on a tool it cannot serve; a tenant's broken definition must cost that
// tool, not the tenant's server.
func (s *Server) addTool(srv *mcp.Server, tenantID string, t *tools.Tool) (mt *mcp.Tool, added bool) {
	defer func() {
		if v := recover(); v != nil {
			added = false
			s.Logger.LogAttrs(context.Background(), slog.LevelError, "tool left out of the MCP server",
				slog.String(logKeyTenant, tenantID), slog.String(logKeyTool, t.Name), slog.Any(logKeyError, v))
		}
	}()
	mt = mcpTool(t)
	srv.AddTool(mt, s.callTool)
	return mt, true
}

// mcpTool describes a tool for tools/list.
func mcpTool(t *tools.Tool) *mcp.Tool {
	openWorld := t.Name != tools.ApprovalStatus // the others reach outside the gateway
	destructive := !t.ReadOnly
	// The schema goes out as JSON made once: the SDK re-reads a tool's
	// schema on every call (for x-mcp-header bindings), which costs a
	// reflective marshal each time for a *jsonschema.Schema.
	schema, err := json.Marshal(t.Schema)
	if err != nil {
		panic(fmt.Sprintf("tool %s: schema does not marshal: %v", t.Name, err)) // checked when the tool was made
	}
	ann := &mcp.ToolAnnotations{
		Title:           t.Title,
		ReadOnlyHint:    t.ReadOnly,
		DestructiveHint: &destructive,
		OpenWorldHint:   &openWorld,
	}
	if len(t.Annotations) > 0 {
		// An upstream tool: its own (pinned) annotations, as approved.
		ann = &mcp.ToolAnnotations{}
		if err := json.Unmarshal(t.Annotations, ann); err != nil {
			panic(fmt.Sprintf("tool %s: annotations do not unmarshal: %v", t.Name, err)) // recovered by addTool
		}
	}
	return &mcp.Tool{
		Name:        t.Name,
		Title:       t.Title,
		Description: t.Description,
		InputSchema: json.RawMessage(schema),
		Annotations: ann,
	}
}

// middleware filters tools/list by the caller's agent configuration and
// records calls of tools the tenant does not have before the SDK refuses
// them.
func (s *Server) middleware(set *tools.Set) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if undeclared(method) {
				// Only the tools capability is declared; the SDK would
				// answer these anyway (empty lists, a no-op setLevel).
				return nil, &jsonrpc.Error{Code: methodNotFound, Message: "method not found: " + method + " (this server offers tools only)"}
			}
			switch method {
			case "tools/list":
				p, ok := principalOf(req.GetExtra())
				if !ok {
					return nil, errUnauthenticated
				}
				visible, err := s.Governor.Visible(ctx, p)
				if err != nil && !vargate.IsKind(err, vargate.KindNotFound) && !vargate.IsKind(err, vargate.KindForbidden) {
					s.Logger.LogAttrs(ctx, slog.LevelError, "tools/list failed",
						slog.String(logKeyTenant, p.TenantID), slog.String(logKeyError, err.Error()))
					return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error"}
				}
				res, err := next(ctx, method, req)
				if err != nil {
					return res, err
				}
				if lr, ok := res.(*mcp.ListToolsResult); ok {
					allowed := make(map[string]bool, len(visible))
					for _, t := range visible {
						allowed[t.Name] = true
					}
					kept := make([]*mcp.Tool, 0, len(visible))
					for _, t := range lr.Tools {
						if allowed[t.Name] {
							kept = append(kept, t)
						}
					}
					lr.Tools = kept
				}
				return res, nil
			case "tools/call":
				if params, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok {
					if _, known := set.Lookup(params.Name); !known {
						if p, ok := principalOf(req.GetExtra()); ok {
							if err := s.Governor.RecordUnknown(ctx, p, params.Name, params.Arguments); err != nil {
								return nil, callError(ctx, s.Logger, p, params.Name, err)
							}
						}
					}
				}
			}
			return next(ctx, method, req)
		}
	}
}

var errUnauthenticated = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "not authenticated"}

// callTool is every tool's handler: the call goes through the governor.
func (s *Server) callTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p, ok := principalOf(req.Extra)
	if !ok {
		return nil, errUnauthenticated
	}
	// The SDK detaches ctx from the HTTP request: a client that goes away
	// or cancels must still stop a call that has not acted yet.
	ctx, release := withRequest(ctx, req.Extra)
	defer release()
	return s.governedCall(ctx, p, req.Params.Name, req.Params.Arguments)
}

// governedCall hands a call to the governor and turns its outcome into
// the MCP result (callTool and the fast path).
func (s *Server) governedCall(ctx context.Context, p vargate.Principal, name string, args json.RawMessage) (*mcp.CallToolResult, error) {
	out, err := s.Governor.Call(ctx, p, name, args)
	if err != nil {
		return nil, callError(ctx, s.Logger, p, name, err)
	}
	return toolResult(out), nil
}

// warnOnly returns l limited to warnings and errors.
func warnOnly(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// undeclared reports whether method belongs to a capability the server
// does not declare: prompts, resources, logging, completion.
func undeclared(method string) bool {
	for _, p := range []string{"prompts/", "resources/", "logging/", "completion/"} {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}
