package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/upstream"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/webhook"
)

// Log attribute keys.
const (
	logKeyRequestID = "request_id"
	logKeyRoute     = "route"
	logKeyMethod    = "method"
	logKeyStatus    = "status"
	logKeyDuration  = "duration_ms"
	logKeyTenant    = "tenant_id"
	logKeyError     = "error"
)

// Server serves the REST API. Set the exported fields, then call Handler.
type Server struct {
	Logger *slog.Logger
	Auth   *auth.Service
	// Vault serves /credentials; nil answers 503.
	Vault *vault.Vault
	// Agents serves /managed/agents; nil answers 503.
	Agents *agent.Service
	// Sessions serves /managed/sessions and /managed/settings; nil answers 503.
	Sessions *session.Service
	// Audit serves /audit; nil answers 503.
	Audit *audit.Log
	// Tools serves /tools (tenant-defined tools); nil answers 503.
	Tools *tools.Catalog
	// Upstreams serves /mcp/upstreams (third-party MCP servers); nil
	// answers 503.
	Upstreams *upstream.Service
	// Approvals serves /approvals, /approve and /reject; nil answers 503.
	Approvals *approval.Service
	// Webhooks serves /dashboard/settings and /webhooks; nil answers 503.
	Webhooks *webhook.Service
	// Observe serves POST /managed/sessions/{id}/interrupt; nil answers 503.
	Observe *observe.Service
	// Compliance serves the session compliance export and policy replay;
	// nil answers 503.
	Compliance *compliance.Service
	// Policies serves /policies (tenant policy versions, activation,
	// rollback); nil answers 503. Changes are audited through Audit.
	Policies *Policies
	// Ping reports whether the database answers; used by /health.
	Ping func(ctx context.Context) error
	// MaxBodyBytes bounds request bodies (DefaultMaxBodyBytes when zero).
	MaxBodyBytes int64
	// Registry receives the HTTP metrics and is served at /metrics
	// (a fresh registry when nil).
	Registry *prometheus.Registry
	// MetricsToken, if set, is the bearer token of the operator's full
	// /metrics view (VARGATE_METRICS_TOKEN); tenant admin keys see only
	// their own tenant's request counts.
	MetricsToken string
	// Mount adds handlers owned by other adapters (the MCP server, the
	// dashboard) to the same mux; called once by Handler.
	Mount func(mux *http.ServeMux)

	requests *prometheus.CounterVec
	byTenant *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// DefaultMaxBodyBytes is the body limit when Server.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// access says who may call a route.
type access int

const (
	public   access = iota // no credential: health and the OpenAPI document
	anyHuman               // admin, approver or auditor
	decider                // admin or approver
	adminOnly
)

// handler is an API handler: it returns an error instead of writing one.
type handler func(w http.ResponseWriter, r *http.Request, p vargate.Principal) error

// route is one entry of the route table.
type route struct {
	method  string
	path    string
	access  access
	handler handler
}

// Handler returns the API with every route served both at the root and
// under /api, so the guide's URLs work with or without a reverse proxy.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vargate_http_requests_total", Help: "HTTP requests by route, method and status.",
	}, []string{"route", "method", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vargate_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route", "method"})
	s.byTenant = newTenantRequests()
	s.Registry.MustRegister(s.requests, s.latency, s.byTenant)

	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := s.wrap(rt)
		mux.Handle(rt.method+" "+rt.path, h)
		mux.Handle(rt.method+" /api"+rt.path, h)
	}
	mux.Handle("GET /metrics", s.metrics())
	if s.Mount != nil {
		s.Mount(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The catch-all hides the mux's own 405: a path that is served
		// with other methods (API, dashboard or MCP) is answered here.
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, &statusError{http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
			return
		}
		s.writeError(w, r, vargate.Errorf(vargate.KindNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	return s.observe(mux)
}

// allowedMethods lists the methods with which mux serves r's path by a
// route other than the catch-all "/".
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// Routes lists "METHOD /path" for every API route, for documentation tests.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// wrap applies the route's access rule and turns a returned error into the
// error response.
func (s *Server) wrap(rt route) http.Handler {
	return s.authorize(rt.access, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := vargate.FromContext(r.Context())
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		if err := rt.handler(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// authorize authenticates the request (unless public) and checks the role.
func (s *Server) authorize(a access, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == public {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.Auth.Authenticate(r.Context(), credential(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !allowed(a, p.Role) {
			s.writeError(w, r, vargate.Errorf(vargate.KindForbidden, "the %s role may not do this", p.Role))
			return
		}
		if rec, ok := w.(*recorder); ok {
			rec.tenant = p.TenantID
		}
		next.ServeHTTP(w, r.WithContext(vargate.NewContext(r.Context(), p)))
	})
}

func allowed(a access, role vargate.Role) bool {
	switch a {
	case anyHuman:
		return role.Human()
	case decider:
		return role.CanDecide()
	case adminOnly:
		return role == vargate.RoleAdmin
	}
	return false
}

// credential returns the API key from X-API-Key or Authorization: Bearer.
func credential(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return v
	}
	return ""
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// recorder captures the status for logs and metrics.
type recorder struct {
	http.ResponseWriter
	status int
	tenant string
}

// SetTenant names the request's tenant in its log line. Handlers mounted
// on the API's mux that authenticate on their own (the MCP server, the
// dashboard) call it through an interface check on the ResponseWriter.
func (r *recorder) SetTenant(id string) { r.tenant = id }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusLabel is the metrics label of an HTTP status: strconv.Itoa, made
// once for the statuses the server answers with.
func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return strconv.Itoa(status)
}

var statusLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(i + 100)
	}
	return l
}()

// observe assigns the request ID, recovers panics, and records logs and
// metrics for every request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID.MatchString(id) {
			id = vargate.NewID("req_", 12)
		}
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(vargate.WithRequestID(r.Context(), id))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.LogAttrs(r.Context(), slog.LevelError, "panic in handler",
					slog.String(logKeyRequestID, id), slog.Any(logKeyError, v))
				if rec.status == 0 {
					s.writeError(rec, r, vargate.Errorf(vargate.KindInternal, "panic"))
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			pattern := r.Pattern
			if pattern == "" {
				pattern = "unmatched"
			}
			dur := time.Since(start)
			code := statusLabel(status)
			s.requests.WithLabelValues(pattern, r.Method, code).Inc()
			s.latency.WithLabelValues(pattern, r.Method).Observe(dur.Seconds())
			if rec.tenant != "" {
				s.byTenant.WithLabelValues(rec.tenant, pattern, r.Method, code).Inc()
			}
			if s.Logger.Enabled(r.Context(), slog.LevelInfo) { // spares building the line below Info
				s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String(logKeyRequestID, id), slog.String(logKeyMethod, r.Method),
					slog.String(logKeyRoute, pattern), slog.Int(logKeyStatus, status),
					slog.Float64(logKeyDuration, float64(dur.Microseconds())/1000),
					slog.String(logKeyTenant, rec.tenant))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
