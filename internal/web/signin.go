package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/netguard"
)

// Cookie names. Over https the session cookie takes the __Host- prefix,
// which browsers accept only with Secure, Path=/ and no Domain.
const (
	sessionCookie       = "vargate_ui"
	secureSessionCookie = "__Host-vargate_ui"
	loginCookie         = "vargate_login"
	csrfField           = "csrf_token"
	csrfHeader          = "X-CSRF-Token"
)

// loginAttemptsPerMinute bounds failed sign-ins per client address.
const loginAttemptsPerMinute = 20

// signin is one signed-in browser session, kept in memory. It holds the
// hash of the key, never the key.
type signin struct {
	id        string // hex SHA-256 of the cookie value
	principal vargate.Principal
	tenant    string
	keyHash   []byte
	csrf      string
	created   time.Time
	lastSeen  time.Time
	flash     []flash
}

// flash is a one-time message shown on the next page.
type flash struct {
	Error bool
	Text  string
}

// signins is the in-memory session store.
type signins struct {
	mu  sync.Mutex
	m   map[string]*signin
	max int
}

func newSignins(max int) *signins { return &signins{m: map[string]*signin{}, max: max} }

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("web: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeKey is the map key of a cookie value: its hash, so the store holds
// nothing a cookie could be rebuilt from.
func storeKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// create starts a session and returns the cookie value.
func (st *signins) create(p vargate.Principal, tenant string, keyHash []byte, now time.Time, idle, maxAge time.Duration) string {
	cookie := randomToken()
	si := &signin{id: storeKey(cookie), principal: p, tenant: tenant, keyHash: keyHash, csrf: randomToken(), created: now, lastSeen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, old := range st.m {
		if expired(old, now, idle, maxAge) {
			delete(st.m, id)
		}
	}
	if len(st.m) >= st.max {
		var oldest *signin
		for _, old := range st.m {
			if oldest == nil || old.lastSeen.Before(oldest.lastSeen) {
				oldest = old
			}
		}
		delete(st.m, oldest.id)
	}
	st.m[si.id] = si
	return cookie
}

func expired(si *signin, now time.Time, idle, maxAge time.Duration) bool {
	return now.Sub(si.lastSeen) > idle || now.Sub(si.created) > maxAge
}

// get returns a copy of the cookie's live session and marks it used.
func (st *signins) get(cookie string, now time.Time, idle, maxAge time.Duration) (signin, bool) {
	id := storeKey(cookie)
	st.mu.Lock()
	defer st.mu.Unlock()
	si, ok := st.m[id]
	if !ok {
		return signin{}, false
	}
	if expired(si, now, idle, maxAge) {
		delete(st.m, id)
		return signin{}, false
	}
	si.lastSeen = now
	cp := *si
	cp.flash = nil
	return cp, true
}

func (st *signins) delete(id string) {
	st.mu.Lock()
	delete(st.m, id)
	st.mu.Unlock()
}

// addFlash queues a message for the session's next page.
func (st *signins) addFlash(id string, f flash) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if si, ok := st.m[id]; ok && len(si.flash) < 5 {
		si.flash = append(si.flash, f)
	}
}

// takeFlash returns and clears the session's messages.
func (st *signins) takeFlash(id string) []flash {
	st.mu.Lock()
	defer st.mu.Unlock()
	si, ok := st.m[id]
	if !ok {
		return nil
	}
	f := si.flash
	si.flash = nil
	return f
}

// validCSRF reports whether the request carries the session's token, in
// the form or (for the page script) a header.
func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// secure reports whether the browser reached the gateway over https:
// directly, or through a trusted proxy that says so.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if r.Header.Get("X-Forwarded-Proto") != "https" || len(s.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer := ap.Addr().Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

func (s *Server) cookieName(r *http.Request) string {
	if s.secure(r) {
		return secureSessionCookie
	}
	return sessionCookie
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// loginData is the sign-in page.
type loginData struct {
	Next  string
	Error string
	// Token is the sign-in form's CSRF token, also set as a cookie
	// (double submit: there is no session yet to bind it to).
	Token string
	// Idle is how long a session lasts without use, in words.
	Idle string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if _, ok := s.current(r); ok {
		return redirect(w, r, localPath(r.URL.Query().Get("next")))
	}
	return s.showLogin(w, r, c, http.StatusOK, loginData{Next: localPath(r.URL.Query().Get("next"))})
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, d loginData) error {
	d.Token = randomToken()
	d.Idle = s.IdleTimeout.String()
	if s.IdleTimeout%time.Minute == 0 {
		d.Idle = strconv.Itoa(int(s.IdleTimeout/time.Minute)) + " minutes"
	}
	s.setCookie(w, r, loginCookie, d.Token, 3600)
	return s.render(w, r, c, status, "login", "Sign in", "", d)
}

// errSignIn is the one answer to every refused key, so the page tells
// nobody which keys exist or what they are.
const errSignIn = "This key cannot sign in. Use an active admin, approver or auditor API key."

func (s *Server) login(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	next := localPath(r.PostFormValue("next"))
	ck, err := r.Cookie(loginCookie)
	form := r.PostFormValue(csrfField)
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		return errCSRF
	}
	client := s.clientKey(r)
	if !s.limiter.allow(client, s.Now()) {
		return s.showLogin(w, r, c, http.StatusTooManyRequests, loginData{Next: next, Error: "Too many failed sign-ins from this address; wait a minute and try again."})
	}
	key := strings.TrimSpace(r.PostFormValue("api_key"))
	// Agent keys and session tokens never sign in: check the prefix before
	// asking, so an agent's session token is not even looked up.
	var p vargate.Principal
	if strings.HasPrefix(key, auth.KeyPrefix) {
		p, err = s.Keys.Authenticate(r.Context(), key)
	} else {
		err = vargate.Errorf(vargate.KindUnauthorized, "not an API key")
	}
	if err == nil && (!p.Role.Human() || p.SessionID != "" || p.AgentID != "") {
		err = vargate.Errorf(vargate.KindUnauthorized, "not a human role")
	}
	if err != nil {
		if !vargate.IsKind(err, vargate.KindUnauthorized) {
			return err
		}
		s.limiter.fail(client, s.Now())
		return s.showLogin(w, r, c, http.StatusUnauthorized, loginData{Next: next, Error: errSignIn})
	}
	t, err := s.KeyStore.GetTenant(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	// A fresh session ID at every sign-in (no fixation); the old one, if
	// any, ends.
	if old, ok := s.current(r); ok {
		s.signins.delete(old.id)
	}
	cookie := s.signins.create(p, t.Name, auth.HashToken(key), s.Now(), s.IdleTimeout, s.MaxSessionAge)
	s.setCookie(w, r, s.cookieName(r), cookie, 0)
	s.setCookie(w, r, loginCookie, "", -1)
	return redirect(w, r, next)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	s.signins.delete(c.sid)
	s.setCookie(w, r, s.cookieName(r), "", -1)
	return redirect(w, r, "/ui/login")
}

// clientKey is the address failed sign-ins are counted against: the
// client's, behind trusted proxies.
func (s *Server) clientKey(r *http.Request) string {
	return netguard.ClientAddr(r, s.TrustedProxies).String()
}

// limiter counts failed sign-ins per client in one-minute windows.
type limiter struct {
	mu  sync.Mutex
	max int
	m   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(max int) *limiter { return &limiter{max: max, m: map[string]*window{}} }

func (l *limiter) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[client]
	return !ok || now.Sub(w.start) > time.Minute || w.n < l.max
}

func (l *limiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) > 10000 {
		for k, w := range l.m {
			if now.Sub(w.start) > time.Minute {
				delete(l.m, k)
			}
		}
	}
	w, ok := l.m[client]
	if !ok || now.Sub(w.start) > time.Minute {
		l.m[client] = &window{start: now, n: 1}
		return
	}
	w.n++
}
