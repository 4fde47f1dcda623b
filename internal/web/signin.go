package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/cache"
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

// touchEvery is how stale a session's LastSeen may get before a request
// writes it again: the idle timeout is measured in minutes, and the store
// is spared a write per request.
const touchEvery = time.Minute

// flash is a one-time message shown on the next page.
type flash struct {
	Error bool
	Text  string
}

// memSignins is the in-memory SigninStore, holding at most max sessions
// (the least recently seen one makes room).
type memSignins struct {
	mu  sync.Mutex
	m   map[string]auth.Signin
	max int
}

func newMemSignins(max int) *memSignins { return &memSignins{m: map[string]auth.Signin{}, max: max} }

func (st *memSignins) CreateSignin(_ context.Context, si auth.Signin, idleBefore, createdBefore time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, old := range st.m {
		if old.LastSeen.Before(idleBefore) || old.CreatedAt.Before(createdBefore) {
			delete(st.m, id)
		}
	}
	if len(st.m) >= st.max {
		var oldest auth.Signin
		for _, old := range st.m {
			if oldest.ID == "" || old.LastSeen.Before(oldest.LastSeen) {
				oldest = old
			}
		}
		delete(st.m, oldest.ID)
	}
	st.m[si.ID] = si
	return nil
}

func (st *memSignins) Signin(_ context.Context, id string) (auth.Signin, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	si, ok := st.m[id]
	if !ok {
		return auth.Signin{}, vargate.NotFound("sign-in session")
	}
	return si, nil
}

func (st *memSignins) TouchSignin(_ context.Context, id string, at time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if si, ok := st.m[id]; ok {
		si.LastSeen = at
		st.m[id] = si
	}
	return nil
}

func (st *memSignins) DeleteSignin(_ context.Context, id string) error {
	st.mu.Lock()
	delete(st.m, id)
	st.mu.Unlock()
	return nil
}

// flashes holds each session's one-time messages, in this process: a
// message set just before a redirect is shown by the page it leads to,
// which a load balancer with several gateways may send elsewhere (the
// message is then lost, never the action).
type flashes struct {
	mu sync.Mutex
	m  map[string][]flash
}

// add queues a message for the session's next page.
func (f *flashes) add(id string, fl flash) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string][]flash{}
	}
	if len(f.m[id]) < 5 {
		f.m[id] = append(f.m[id], fl)
	}
}

// take returns and clears the session's messages.
func (f *flashes) take(id string) []flash {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.m[id]
	delete(f.m, id)
	return out
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("web: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeKey is the store's ID for a cookie value: its hash, so the store
// holds nothing a cookie could be rebuilt from.
func storeKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// startSignin creates a session for p and returns the cookie value.
func (s *Server) startSignin(ctx context.Context, p vargate.Principal, tenant string, keyHash []byte) (string, error) {
	cookie := randomToken()
	now := s.Now()
	si := auth.Signin{ID: storeKey(cookie), Principal: p, Tenant: tenant, KeyHash: keyHash, CSRF: randomToken(), CreatedAt: now, LastSeen: now}
	if err := s.Signins.CreateSignin(ctx, si, now.Add(-s.IdleTimeout), now.Add(-s.MaxSessionAge)); err != nil {
		return "", err
	}
	return cookie, nil
}

// signin returns the cookie's live session and marks it used; an expired
// one is deleted.
func (s *Server) signin(ctx context.Context, cookie string) (auth.Signin, bool) {
	id := storeKey(cookie)
	si, err := s.Signins.Signin(ctx, id)
	if err != nil {
		if !vargate.IsKind(err, vargate.KindNotFound) {
			s.Logger.LogAttrs(ctx, slog.LevelError, "dashboard: read sign-in session", slog.Any(logKeyError, err))
		}
		return auth.Signin{}, false
	}
	now := s.Now()
	if now.Sub(si.LastSeen) > s.IdleTimeout || now.Sub(si.CreatedAt) > s.MaxSessionAge {
		s.endSignin(ctx, id)
		return auth.Signin{}, false
	}
	if now.Sub(si.LastSeen) >= touchEvery {
		if err := s.Signins.TouchSignin(ctx, id, now); err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "dashboard: touch sign-in session", slog.Any(logKeyError, err))
		}
		si.LastSeen = now
	}
	return si, true
}

// endSignin deletes a session and its pending messages.
func (s *Server) endSignin(ctx context.Context, id string) {
	if err := s.Signins.DeleteSignin(ctx, id); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "dashboard: end sign-in session", slog.Any(logKeyError, err))
	}
	s.flashes.take(id)
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
	// Only an active human key signs in (agent keys and session tokens are
	// refused by their prefix, before any lookup); every sign-in, and
	// every refusal of a key the gateway knows, is an audit record.
	p, err := s.Keys.SignIn(r.Context(), key, client)
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
		s.endSignin(r.Context(), old.ID)
	}
	cookie, err := s.startSignin(r.Context(), p, t.Name, auth.HashToken(key))
	if err != nil {
		return err
	}
	s.setCookie(w, r, s.cookieName(r), cookie, 0)
	s.setCookie(w, r, loginCookie, "", -1)
	return redirect(w, r, next)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	s.endSignin(r.Context(), c.sid)
	if err := s.Keys.SignOut(r.Context(), c.P); err != nil {
		// The session is over either way; the operator sees why the
		// record is missing.
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard: record sign-out", slog.Any(logKeyError, err))
	}
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
	mu  sync.Mutex // guards the windows' counts
	max int
	m   *cache.Cache[string, *window] // client → its window
}

type window struct {
	start time.Time
	n     int
}

// maxLimitedClients bounds the clients whose failures are counted; the
// least recently failing client's count is dropped first (an attacker
// with more addresses than this gets as many tries from them anyway).
const maxLimitedClients = 10000

func newLimiter(max int) *limiter {
	return &limiter{max: max, m: cache.New[string, *window](maxLimitedClients)}
}

func (l *limiter) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m.Get(client, now)
	return !ok || now.Sub(w.start) > time.Minute || w.n < l.max
}

func (l *limiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m.Get(client, now)
	if !ok || now.Sub(w.start) > time.Minute {
		l.m.Add(client, &window{start: now, n: 1}, time.Time{}) // the window's age is checked above
		return
	}
	w.n++
}
