package mcpserver

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// WellKnownPrefix starts the path of the RFC 9728 protected-resource
// metadata of each mount: /.well-known/oauth-protected-resource/mcp/server.
const WellKnownPrefix = "/.well-known/oauth-protected-resource"

// publicBase returns the scheme and host clients reach the gateway at:
// Server.PublicURL's, else the request's (https when it came over TLS or
// through a trusted proxy that says so).
func (s *Server) publicBase(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || s.forwardedHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) forwardedHTTPS(r *http.Request) bool {
	if len(s.TrustedProxies) == 0 || !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.TrustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// mountOf returns the mount path (Path or APIPath) a request is under.
func mountOf(path string) string {
	if strings.HasPrefix(path, APIPath) || strings.HasPrefix(path, WellKnownPrefix+APIPath) {
		return APIPath
	}
	return Path
}

// challenge is the WWW-Authenticate value of a 401 or 403: the realm and,
// per RFC 9728 (MCP authorization), where the protected-resource
// metadata is, then any extra parameters.
func (s *Server) challenge(r *http.Request, extra string) string {
	c := realm + `, resource_metadata="` + s.publicBase(r) + WellKnownPrefix + mountOf(r.URL.Path) + `"`
	if extra != "" {
		c += ", " + extra
	}
	return c
}

// resourceMetadata serves the RFC 9728 document of the mount: the
// resource is the MCP endpoint, its authorization server the gateway
// itself (which issues the bearer credentials: session tokens and agent
// keys; docs/MCP.md says how to get one), tokens go in the header only.
func (s *Server) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.publicBase(r)
	doc := oauthex.ProtectedResourceMetadata{
		Resource:               base + mountOf(r.URL.Path),
		AuthorizationServers:   []string{base},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Vargate governed tools",
		ResourceDocumentation:  DocumentationURL,
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	// Public metadata: any page may read it.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(doc)
}

// DocumentationURL says how a client gets a bearer credential.
const DocumentationURL = "https://github.com/vargate/vargate/blob/main/docs/MCP.md#authentication"

// CORS headers for allowed browser origins.
const (
	corsAllowMethods  = "POST, GET, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID"
	corsExposeHeaders = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"
)

// cors sets the CORS headers of a request from an allowed origin, and
// answers its preflight (which carries no credentials) at once.
func cors(w http.ResponseWriter, r *http.Request, origin string) (done bool) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// servedMethods are the JSON-RPC requests this server answers: the
// lifecycle, discovery and the tools capability (the only one it
// declares). Client notifications ("notifications/…") pass too.
var servedMethods = map[string]bool{
	"initialize": true, "ping": true, "server/discover": true, "subscriptions/listen": true,
	"tools/list": true, "tools/call": true,
}

// methods answers a request for a method the server does not serve
// (unknown, or of a capability it does not declare: prompts, resources,
// logging, completion) with a JSON-RPC -32601 error carrying the
// request's ID, instead of the SDK's plain-text 400 or an empty answer.
// Batches and responses pass to the SDK unchanged.
func (s *Server) methods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := messageOf(r.Context())
		if msg == nil || !msg.single || !msg.hasMethod {
			next.ServeHTTP(w, r) // the SDK reports a broken body, answers a batch or a response
			return
		}
		m := msg.method
		id := msg.rawID
		if servedMethods[m] || strings.HasPrefix(m, "notifications/") {
			next.ServeHTTP(w, r)
			return
		}
		if len(id) == 0 || string(id) == "null" {
			w.WriteHeader(http.StatusAccepted) // a notification gets no answer
			return
		}
		status := http.StatusOK
		if v := r.Header.Get("MCP-Protocol-Version"); v >= "2026-07-28" {
			status = http.StatusNotFound // as the SDK answers an unknown method in this era
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   rpcError        `json:"error"`
		}{"2.0", id, rpcError{Code: methodNotFound, Message: "method not found: " + strings.ToValidUTF8(truncateMethod(m), "") + " (this server offers tools only)"}})
	})
}

func truncateMethod(m string) string {
	if len(m) > 100 {
		return m[:100] + "…"
	}
	return m
}
