package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
)

// Defaults for Server's zero fields.
const (
	// DefaultIdleTimeout ends a sign-in session after this long without a
	// request.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultMaxSessionAge ends a sign-in session this long after sign-in,
	// however active.
	DefaultMaxSessionAge = 12 * time.Hour
	// DefaultMaxBodyBytes bounds a form (policy uploads are the largest).
	DefaultMaxBodyBytes = 2 << 20
	// DefaultMaxSessions bounds the sign-in sessions kept in memory; the
	// oldest is dropped when a new one would exceed it.
	DefaultMaxSessions = 10000
	// DefaultPollInterval is how often pages refresh their live parts.
	DefaultPollInterval = 3 * time.Second
)

// Prefix is where the dashboard is served.
const Prefix = "/ui/"

// Log attribute keys.
const (
	logKeyError  = "error"
	logKeyRoute  = "route"
	logKeyTenant = "tenant_id"
)

// Server serves the dashboard. Set the fields, then call Handler or Mount.
// A nil service hides its pages and answers them with "not configured";
// Keys and KeyStore are required.
type Server struct {
	Logger *slog.Logger

	Keys        Keys
	KeyStore    KeyStore
	Approvals   Approvals
	Sessions    Sessions
	Interrupter Interrupter
	Audit       AuditLog
	Records     AuditRecords
	Agents      Agents
	Policies    Policies
	Credentials Credentials
	Webhooks    Webhooks
	Compliance  Compliance

	// Upstreams shows the tenant's upstream MCP servers and their pending
	// tool changes (admins); nil hides the page.
	Upstreams Upstreams

	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto is
	// believed: a request through one of them that says https gets a
	// Secure cookie, as does any request over TLS.
	TrustedProxies []netip.Prefix
	// Signins keeps the sign-in sessions; nil keeps them in this
	// process's memory (at most MaxSessions).
	Signins auth.SigninStore
	// IdleTimeout, MaxSessionAge, MaxBodyBytes, MaxSessions, PollInterval:
	// see the Default constants.
	IdleTimeout   time.Duration
	MaxSessionAge time.Duration
	MaxBodyBytes  int64
	MaxSessions   int
	PollInterval  time.Duration
	Now           vargate.Clock

	once     sync.Once
	flashes  flashes
	limiter  *limiter
	pages    map[string]*pageTemplate
	static   *staticFiles
	crossOri *http.CrossOriginProtection
	verified verifyCache
	// work is the context of the background work (audit verifications);
	// Close cancels it with stop and waits for running on the work.
	work    context.Context
	stop    context.CancelFunc
	running sync.WaitGroup
}

// access says who may use a route.
type access int

const (
	public  access = iota // sign-in only
	reader                // admin, approver or auditor
	decider               // admin or approver
	admin
)

func (a access) allows(r vargate.Role) bool {
	switch a {
	case public:
		return true
	case reader:
		return r.Human()
	case decider:
		return r.CanDecide()
	case admin:
		return r.CanWrite()
	}
	return false
}

// handler is a page handler: it returns an error instead of writing one.
type handler func(w http.ResponseWriter, r *http.Request, c *reqCtx) error

// route is one entry of the route table.
type route struct {
	method  string
	path    string
	access  access
	handler handler
}

// routes is the whole dashboard in one place. Every POST checks the CSRF
// token; the access column is enforced before the handler runs.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/ui/login", public, s.loginPage},
		{"POST", "/ui/login", public, s.login},
		{"POST", "/ui/logout", reader, s.logout},

		{"GET", "/ui/{$}", reader, s.overview},
		{"GET", "/ui/overview/stats", reader, s.overviewStats},

		{"GET", "/ui/approvals", reader, s.approvalsPage},
		{"GET", "/ui/approvals/queue", reader, s.approvalsQueue},
		{"GET", "/ui/approvals/{id}", reader, s.approvalPage},
		{"POST", "/ui/approvals/{id}/approve", decider, s.approve},
		{"POST", "/ui/approvals/{id}/reject", decider, s.reject},

		{"GET", "/ui/sessions", reader, s.sessionsPage},
		{"GET", "/ui/sessions/{id}", reader, s.sessionPage},
		{"GET", "/ui/sessions/{id}/status", reader, s.sessionStatus},
		{"GET", "/ui/sessions/{id}/timeline", reader, s.sessionTimeline},
		{"POST", "/ui/sessions/{id}/interrupt", decider, s.interrupt},
		{"GET", "/ui/sessions/{id}/export", reader, s.exportSession},
		{"POST", "/ui/sessions/{id}/replay", reader, s.replaySession},

		{"GET", "/ui/audit", reader, s.auditPage},

		{"GET", "/ui/agents", reader, s.agentsPage},
		{"GET", "/ui/agents/new", admin, s.newAgentPage},
		{"POST", "/ui/agents", admin, s.createAgent},
		{"GET", "/ui/agents/{id}", reader, s.agentPage},
		{"POST", "/ui/agents/{id}", admin, s.updateAgent},
		{"POST", "/ui/agents/{id}/archive", admin, s.archiveAgent},

		{"GET", "/ui/policies", reader, s.policiesPage},
		{"POST", "/ui/policies", admin, s.uploadPolicy},
		{"POST", "/ui/policies/rollback", admin, s.rollbackPolicy},
		{"GET", "/ui/policies/{label}", reader, s.policyPage},
		{"POST", "/ui/policies/{label}/activate", admin, s.activatePolicy},

		{"GET", "/ui/settings/webhook", reader, s.webhookPage},
		{"POST", "/ui/settings/webhook", admin, s.saveWebhook},
		{"POST", "/ui/settings/webhook/test", admin, s.testWebhook},
		{"POST", "/ui/settings/webhook/delete", admin, s.deleteWebhook},
		{"GET", "/ui/settings/credentials", reader, s.credentialsPage},
		{"POST", "/ui/settings/credentials", admin, s.registerCredential},
		{"POST", "/ui/settings/credentials/{id}/delete", admin, s.deleteCredential},
		{"GET", "/ui/settings/upstreams", admin, s.upstreamsPage},
		{"GET", "/ui/settings/upstreams/{name}", admin, s.upstreamPage},
		{"POST", "/ui/settings/upstreams/{name}/approve", admin, s.approveUpstream},
		{"GET", "/ui/settings/keys", admin, s.keysPage},
		{"POST", "/ui/settings/keys", admin, s.createKey},
		{"POST", "/ui/settings/keys/{id}/revoke", admin, s.revokeKey},
	}
}

// Routes lists "METHOD /path" for every dashboard route, for tests that
// check each one (every POST needs a CSRF token, for instance).
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// setup fills in defaults and parses the templates, once.
func (s *Server) setup() {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		if s.Now == nil {
			s.Now = func() time.Time { return time.Now().UTC() }
		}
		s.IdleTimeout = vargate.OrDefault(s.IdleTimeout, DefaultIdleTimeout)
		s.MaxSessionAge = vargate.OrDefault(s.MaxSessionAge, DefaultMaxSessionAge)
		s.PollInterval = vargate.OrDefault(s.PollInterval, DefaultPollInterval)
		if s.MaxBodyBytes <= 0 {
			s.MaxBodyBytes = DefaultMaxBodyBytes
		}
		if s.MaxSessions <= 0 {
			s.MaxSessions = DefaultMaxSessions
		}
		if s.Signins == nil {
			s.Signins = newMemSignins(s.MaxSessions)
		}
		s.limiter = newLimiter(loginAttemptsPerMinute)
		s.static = mustStatic()
		s.pages = mustParsePages(s.static)
		s.crossOri = http.NewCrossOriginProtection()
		s.work, s.stop = context.WithCancel(context.Background())
	})
}

// Close cancels the dashboard's background work (a running audit
// verification) and returns once it has stopped; none starts after.
// Call it when the HTTP server has stopped, before the services' database
// closes.
func (s *Server) Close() error {
	s.setup()
	s.verified.mu.Lock()
	s.verified.closed = true
	s.verified.mu.Unlock()
	s.stop()
	s.running.Wait()
	return nil
}

// Mount adds the dashboard to mux: everything under /ui/, and GET / which
// sends a browser to /ui/.
func (s *Server) Mount(mux *http.ServeMux) {
	s.setup()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	mux.Handle("GET /ui/static/", s.headers(http.StripPrefix("/ui/static/", s.static)))
	mux.Handle("GET /ui", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
	mux.Handle("GET /{$}", http.RedirectHandler(Prefix, http.StatusSeeOther))
	mux.Handle("/ui/", s.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, vargate.Errorf(vargate.KindNotFound, "there is no page at %s", r.URL.Path))
	})))
}

// Handler returns the dashboard on its own mux (for tests and for serving
// it apart from the API).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	return mux
}

// contentSecurityPolicy allows only the dashboard's own scripts, styles
// and requests: no inline script or style, no framing, forms post only to
// the gateway.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every dashboard response.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// reqCtx is what a page handler knows about the request's sign-in.
type reqCtx struct {
	// P is the signed-in principal (zero on public routes).
	P vargate.Principal
	// Tenant is the tenant's name.
	Tenant string
	// CSRF is the session's token, for the forms of the page.
	CSRF string
	// sid is the session's key in the store ("" when not signed in).
	sid string
	// fragment is set for requests from the page script.
	fragment bool
}

// errCSRF is the failure of a POST without the session's token.
var errCSRF = vargate.Errorf(vargate.KindForbidden, "the form has expired or did not come from this dashboard; reload the page and try again")

// wrap applies sign-in, role and CSRF checks, then runs the handler and
// renders a returned error.
func (s *Server) wrap(rt route) http.Handler {
	return s.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		c := &reqCtx{fragment: r.Header.Get("X-Requested-With") == "vargate"}
		if r.Method == http.MethodPost {
			if err := s.crossOri.Check(r); err != nil {
				s.renderError(w, r, c, errCSRF)
				return
			}
		}
		if rt.access != public {
			si, ok := s.current(r)
			if !ok {
				s.toLogin(w, r, c)
				return
			}
			c.P, c.Tenant, c.CSRF, c.sid = si.Principal, si.Tenant, si.CSRF, si.ID
			if l, ok := w.(interface{ SetTenant(string) }); ok {
				l.SetTenant(c.P.TenantID) // the API's request log names the tenant
			}
			if !rt.access.allows(c.P.Role) {
				s.renderError(w, r, c, vargate.Errorf(vargate.KindForbidden, "the %s role may not do this", c.P.Role))
				return
			}
			if r.Method == http.MethodPost && !validCSRF(r, si.CSRF) {
				s.renderError(w, r, c, errCSRF)
				return
			}
			r = r.WithContext(vargate.NewContext(r.Context(), c.P))
		}
		if err := rt.handler(w, r, c); err != nil {
			s.renderError(w, r, c, err)
		}
	}))
}

// current returns the request's live sign-in session, after checking that
// its key still authenticates; a revoked key ends the session.
func (s *Server) current(r *http.Request) (auth.Signin, bool) {
	ck, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return auth.Signin{}, false
	}
	si, ok := s.signin(r.Context(), ck.Value)
	if !ok {
		return auth.Signin{}, false
	}
	k, err := s.KeyStore.KeyByHash(r.Context(), si.KeyHash)
	if err != nil || k.RevokedAt != nil || k.TenantID != si.Principal.TenantID || k.Role != si.Principal.Role {
		if err != nil && !vargate.IsKind(err, vargate.KindNotFound) {
			s.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard: check signed-in key", slog.Any(logKeyError, err))
			return auth.Signin{}, false
		}
		s.endSignin(r.Context(), si.ID)
		return auth.Signin{}, false
	}
	si.Principal.KeyName = k.Name
	return si, true
}

// toLogin sends a request without a session to the sign-in page; the page
// script gets a 401 and reloads.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if c.fragment {
		http.Error(w, "signed out", http.StatusUnauthorized)
		return
	}
	target := "/ui/login"
	if r.Method == http.MethodGet && r.URL.Path != "/ui/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localPath returns next if it is a dashboard path on this gateway, else
// the dashboard's home: a sign-in link cannot send anyone elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// redirect answers a form post with a redirect to a page (POST/redirect/GET).
func redirect(w http.ResponseWriter, r *http.Request, path string) error {
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}

// notConfigured is the error of a page whose service is not wired in.
func notConfigured(what string) error {
	return vargate.Errorf(vargate.KindUnavailable, "%s is not configured on this gateway", what)
}

// detached returns a context for work that must finish even if the
// browser goes away (decisions, interrupts), bounded by d.
func detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// userMessage is the text of err a person may see: the message of a known
// kind, or a generic one (the detail goes to the log).
func userMessage(err error) string {
	var ve *vargate.Error
	if k := vargate.KindOf(err); k != vargate.KindInternal && errors.As(err, &ve) {
		if ve.Field != "" && !strings.Contains(ve.Message, ve.Field) {
			return ve.Field + ": " + ve.Message
		}
		return ve.Message
	}
	return "something went wrong; the gateway's log has the details"
}

// isUserError reports whether err is something the person can correct or
// should know about (shown on the page), rather than a fault of the
// gateway (shown as an error page and logged).
func isUserError(err error) bool {
	switch vargate.KindOf(err) {
	case vargate.KindInvalid, vargate.KindNotFound, vargate.KindConflict, vargate.KindForbidden, vargate.KindRateLimited:
		return true
	}
	return false
}

func (s *Server) flashOK(c *reqCtx, text string) {
	s.flashes.add(c.sid, flash{Text: text})
}

func (s *Server) flashError(c *reqCtx, text string) {
	s.flashes.add(c.sid, flash{Error: true, Text: text})
}
