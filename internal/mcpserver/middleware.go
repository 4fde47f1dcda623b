package mcpserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
)

// headers sets the response headers every answer carries. SSE responses
// must not be buffered by a reverse proxy.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Accel-Buffering"] = noBuffering
		h["Cache-Control"] = noStore
		next.ServeHTTP(w, r)
	})
}

// The values of headers, shared by every answer as the fast path's are.
var (
	noBuffering = []string{"no"}
	noStore     = []string{"no-store"}
)

// allowlist refuses clients outside the IP allowlist, before anything
// else is looked at.
func (s *Server) allowlist(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.IPAllowlist) > 0 {
			addr := netguard.ClientAddr(r, s.TrustedProxies)
			if !s.IPAllowlist.Allows(addr) {
				s.Logger.LogAttrs(r.Context(), slog.LevelWarn, "MCP request from an address outside the allowlist",
					slog.String(logKeyAddr, addrString(addr)))
				writeRPCError(w, http.StatusForbidden, codeRefused, "forbidden: client address not allowed")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	return a.String()
}

// origin refuses browser requests from origins not configured: a request
// with an Origin header comes from a web page, and only listed pages may
// call.
func (s *Server) origin(next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range s.AllowedOrigins {
		if n := normalizeOrigin(o); n != "" {
			allowed[n] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := r.Header.Get("Origin")
		if o != "" && !allowed[normalizeOrigin(o)] {
			s.Logger.LogAttrs(r.Context(), slog.LevelWarn, "MCP request from a foreign origin", slog.String(logKeyOrigin, o))
			writeRPCError(w, http.StatusForbidden, codeRefused, "forbidden: origin not allowed")
			return
		}
		// An allowed page may read the answers (and the 401's challenge);
		// its preflight is answered here, without credentials.
		if o != "" && cors(w, r, o) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// normalizeOrigin returns scheme://host[:port] in lower case with default
// ports dropped, or "" for something that is not an origin ("null").
func normalizeOrigin(o string) string {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host
}

// challenge is the WWW-Authenticate realm of the MCP endpoint.
const realm = `Bearer realm="vargate-mcp"`

// authenticate resolves the bearer token (and only the Authorization
// header: never a query parameter) to a principal. Only the agent role may
// call tools: human keys get 403.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", s.challenge(r, ""))
			writeRPCError(w, http.StatusUnauthorized, codeRefused, "unauthorized: send Authorization: Bearer with a session token or an agent key")
			return
		}
		p, err := s.principal(r.Context(), token)
		if err != nil {
			if vargate.IsKind(err, vargate.KindUnauthorized) {
				w.Header().Set("WWW-Authenticate", s.challenge(r, `error="invalid_token", error_description="invalid, revoked or expired token"`))
				writeRPCError(w, http.StatusUnauthorized, codeRefused, "unauthorized: invalid, revoked or expired token")
				return
			}
			s.Logger.LogAttrs(r.Context(), slog.LevelError, "MCP authentication failed", slog.String(logKeyError, err.Error()))
			writeRPCError(w, http.StatusServiceUnavailable, rpcCode(vargate.KindUnavailable), "authentication is unavailable; try again")
			return
		}
		if p.Role != vargate.RoleAgent || p.AgentID == "" {
			w.Header().Set("WWW-Authenticate", s.challenge(r, `error="insufficient_scope", error_description="only agent credentials may call tools"`))
			writeRPCError(w, http.StatusForbidden, codeRefused, "forbidden: only agent credentials (session tokens, agent keys) may call tools")
			return
		}
		if l, ok := w.(interface{ SetTenant(string) }); ok {
			l.SetTenant(p.TenantID) // the API's request log names the tenant
		}
		next.ServeHTTP(w, r.WithContext(vargate.NewContext(r.Context(), p)))
	})
}

// bearer extracts the token of an "Authorization: Bearer" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// rpcErrorBody is a JSON-RPC error response without an ID, the body the
// transport spec allows for HTTP-level refusals.
type rpcErrorBody struct {
	JSONRPC string   `json:"jsonrpc"`
	ID      any      `json:"id"`
	Error   rpcError `json:"error"`
}

type rpcError struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
}

func writeRPCError(w http.ResponseWriter, status int, code int64, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rpcErrorBody{JSONRPC: "2.0", Error: rpcError{Code: code, Message: msg}})
}

// principal authenticates token, reusing a recent success for the same
// token (failures are never cached: a new key works at once).
func (s *Server) principal(ctx context.Context, token string) (vargate.Principal, error) {
	ttl := s.AuthCacheTTL
	if ttl == 0 {
		ttl = DefaultAuthCacheTTL
	}
	if ttl < 0 {
		return s.Auth.Authenticate(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if p, ok := s.authed.Get(key, now); ok {
		return p, nil
	}
	p, err := s.Auth.Authenticate(ctx, token)
	if err != nil {
		return p, err
	}
	s.authed.Add(key, p, now.Add(ttl))
	return p, nil
}
