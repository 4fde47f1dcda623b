package web_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"

	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/web"
)

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	revokedID, revoked := f.key(t, f.tenant, "auditor", "")
	if err := f.auth.RevokeKey(t.Context(), f.tenant, revokedID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"admin", f.adminKey, true},
		{"approver", f.approverKey, true},
		{"auditor", f.auditorKey, true},
		{"agent key", f.agentKey, false},
		{"session token", auth.NewToken(auth.SessionTokenPrefix), false},
		{"revoked key", revoked, false},
		{"unknown key", auth.NewToken(auth.KeyPrefix), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := f.browser(t)
			p := b.tryLogin(tt.key)
			if tt.ok {
				if p.status != http.StatusSeeOther || p.location != "/ui/" {
					t.Fatalf("got %d to %q, want 303 to /ui/", p.status, p.location)
				}
				if got := b.get("/ui/"); got.status != http.StatusOK {
					t.Errorf("GET /ui/ after sign-in: %d", got.status)
				}
				return
			}
			if p.status != http.StatusUnauthorized {
				t.Fatalf("got %d, want 401", p.status)
			}
			if !strings.Contains(p.body, "This key cannot sign in") {
				t.Errorf("the page does not say the key was refused")
			}
			if got := b.get("/ui/"); got.status != http.StatusSeeOther {
				t.Errorf("GET /ui/ after a refused sign-in: %d, want a redirect to sign in", got.status)
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name       string
		forwarded  string
		trusted    bool
		wantName   string
		wantSecure bool
	}{
		{"plain http", "", false, "vargate_ui", false},
		{"https from a trusted proxy", "https", true, "__Host-vargate_ui", true},
		{"https claimed by an untrusted peer", "https", false, "vargate_ui", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.web.TrustedProxies = nil
			if tt.trusted {
				f.web.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			}
			t.Cleanup(func() { f.web.TrustedProxies = nil })
			b := f.browser(t)
			tok := b.csrf("/ui/login")
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.ts.URL+"/ui/login",
				strings.NewReader(url.Values{"csrf_token": {tok}, "api_key": {f.adminKey}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.forwarded != "" {
				req.Header.Set("X-Forwarded-Proto", tt.forwarded)
			}
			// The login cookie was set for http; send it by hand.
			req.AddCookie(&http.Cookie{Name: "vargate_login", Value: tok})
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var got *http.Cookie
			for _, c := range resp.Cookies() {
				if strings.HasSuffix(c.Name, "vargate_ui") {
					got = c
				}
			}
			if got == nil {
				t.Fatalf("no session cookie (status %d)", resp.StatusCode)
			}
			if got.Name != tt.wantName || got.Secure != tt.wantSecure {
				t.Errorf("cookie %s secure=%v, want %s secure=%v", got.Name, got.Secure, tt.wantName, tt.wantSecure)
			}
			if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/" {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q, want HttpOnly, Strict, /", got.HttpOnly, got.SameSite, got.Path)
			}
			if strings.Contains(got.Value, f.adminKey) || strings.Contains(got.Value, strings.TrimPrefix(f.adminKey, auth.KeyPrefix)) {
				t.Error("the cookie carries the API key")
			}
		})
	}
}

func TestSignedOut(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	if p := b.get("/"); p.status != http.StatusSeeOther || p.location != "/ui/" {
		t.Errorf("GET /: %d to %q, want 303 to /ui/", p.status, p.location)
	}
	if p := b.get("/ui/approvals"); p.status != http.StatusSeeOther || p.location != "/ui/login?next=%2Fui%2Fapprovals" {
		t.Errorf("GET /ui/approvals: %d to %q, want the sign-in page with next", p.status, p.location)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+"/ui/approvals/queue", nil)
	req.Header.Set("X-Requested-With", "vargate")
	if p := b.do(req); p.status != http.StatusUnauthorized {
		t.Errorf("fragment while signed out: %d, want 401", p.status)
	}
	// A sign-in link cannot send anyone off the dashboard.
	b.csrf("/ui/login")
	tok := b.csrf("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf_token": {tok}, "api_key": {f.adminKey}, "next": {"//evil.example/x"}})
	if p.location != "/ui/" {
		t.Errorf("next=//evil.example/x redirected to %q", p.location)
	}
}

func TestSignOutAndRevocationEndSessions(t *testing.T) {
	f := newFixture(t)
	admin, approver := f.browser(t), f.browser(t)
	admin.signIn(f.adminKey)
	approver.signIn(f.approverKey)

	tok := admin.csrf("/ui/settings/keys")
	if p := admin.post("/ui/settings/keys/"+f.approverID+"/revoke", url.Values{"csrf_token": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", p.status)
	}
	if p := approver.get("/ui/approvals"); p.status != http.StatusSeeOther {
		t.Errorf("after its key was revoked the session still works: %d", p.status)
	}

	tok = admin.csrf("/ui/")
	if p := admin.post("/ui/logout", url.Values{"csrf_token": {tok}}); p.status != http.StatusSeeOther || p.location != "/ui/login" {
		t.Fatalf("sign out: %d to %q", p.status, p.location)
	}
	if p := admin.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("after signing out: %d", p.status)
	}
}

func TestIdleExpiry(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC()
	f.web.Now = func() time.Time { return now }
	b := f.browser(t)
	b.signIn(f.auditorKey)
	now = now.Add(29 * time.Minute)
	if p := b.get("/ui/"); p.status != http.StatusOK {
		t.Fatalf("29 minutes idle: %d", p.status)
	}
	now = now.Add(31 * time.Minute)
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("31 minutes idle: %d, want a redirect to sign in", p.status)
	}
}

// postRoutes returns every POST route with its path parameters filled in.
func postRoutes(f *fixture, id string) []string {
	var out []string
	for _, r := range f.web.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if method != http.MethodPost {
			continue
		}
		path = strings.NewReplacer("{id}", id, "{label}", "v1").Replace(path)
		out = append(out, path)
	}
	return out
}

func TestEveryFormNeedsCSRF(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue(t, "vargate_send_email", `{"to":"jane.doe@example.com","subject":"Quarterly report"}`)
	admin := f.browser(t)
	admin.signIn(f.adminKey)
	other := f.browser(t)
	other.signIn(f.approverKey)
	foreign := other.csrf("/ui/")

	for _, path := range postRoutes(f, a.ID) {
		for _, tok := range []struct {
			name  string
			value []string
		}{{"no token", nil}, {"empty token", []string{""}}, {"another session's token", []string{foreign}}} {
			t.Run(path+"/"+tok.name, func(t *testing.T) {
				form := url.Values{"reason": {"r"}, "api_key": {f.adminKey}, "name": {"x"}, "role": {"auditor"}}
				if tok.value != nil {
					form["csrf_token"] = tok.value
				}
				if p := admin.post(path, form); p.status != http.StatusForbidden {
					t.Errorf("status %d, want 403", p.status)
				}
			})
		}
	}
	if got, err := f.queue.Get(t.Context(), f.tenant, a.ID); err != nil || got.Status != approval.StatusPending {
		t.Errorf("action is %s (%v), want still pending", got.Status, err)
	}
	// A cross-site post is refused even with the right token.
	tok := admin.csrf("/ui/approvals")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.ts.URL+"/ui/approvals/"+a.ID+"/approve",
		strings.NewReader(url.Values{"csrf_token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := admin.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", p.status)
	}
}

func TestRolesOnEveryForm(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue(t, "vargate_send_email", `{"to":"jane.doe@example.com"}`)
	// Routes an approver may post to besides sign-out.
	approverMay := map[string]bool{"/ui/approvals/" + a.ID + "/approve": true, "/ui/approvals/" + a.ID + "/reject": true,
		"/ui/sessions/" + a.ID + "/interrupt": true}
	readOnly := map[string]bool{"/ui/sessions/" + a.ID + "/replay": true, "/ui/logout": true, "/ui/login": true}
	for _, role := range []struct {
		name string
		key  string
		may  map[string]bool
	}{{"auditor", f.auditorKey, nil}, {"approver", f.approverKey, approverMay}} {
		t.Run(role.name, func(t *testing.T) {
			b := f.browser(t)
			b.signIn(role.key)
			tok := b.csrf("/ui/")
			for _, path := range postRoutes(f, a.ID) {
				if readOnly[path] || role.may[path] {
					continue
				}
				form := url.Values{"csrf_token": {tok}, "reason": {"because"}, "name": {"x"}, "role": {"admin"},
					"tool_id": {"t"}, "credential_type": {"api_key"}, "value": {"v-123456789"}, "url": {"https://example.com/h"},
					"source": {"package vargate.tenant\n"}, "version": {"1"}}
				if p := b.post(path, form); p.status != http.StatusForbidden {
					t.Errorf("POST %s: status %d, want 403", path, p.status)
				}
			}
		})
	}
	ctx := t.Context()
	if got, _ := f.queue.Get(ctx, f.tenant, a.ID); got.Status != approval.StatusPending {
		t.Errorf("action is %s, want pending", got.Status)
	}
	if keys, _ := f.auth.Store.ListKeys(ctx, f.tenant); len(keys) != 4 {
		t.Errorf("%d keys, want the 4 the fixture made", len(keys))
	}
	if cs, _ := f.vault.List(ctx, f.tenant, vault.Filter{}); len(cs) != 0 {
		t.Errorf("%d credentials, want none", len(cs))
	}
	if cfg, _ := f.agents.Get(ctx, f.tenant, f.agentCfg.ID); cfg.Version != 1 || cfg.Archived() {
		t.Errorf("agent is version %d archived=%v, want version 1", cfg.Version, cfg.Archived())
	}
	if f.exec.count() != 0 {
		t.Errorf("%d executions, want none", f.exec.count())
	}

	// Auditors do not see decision buttons either.
	b := f.browser(t)
	b.signIn(f.auditorKey)
	if p := b.get("/ui/approvals"); strings.Contains(p.body, "/approve\"") {
		t.Error("the auditor's queue has an approve form")
	}
	if p := b.get("/ui/settings/keys"); p.status != http.StatusForbidden {
		t.Errorf("auditor GET keys page: %d, want 403", p.status)
	}
}

// TestApprovalShowsHiddenCharacters: a recipient written with a
// right-to-left override renders as a company address; the page shows
// the override as an escape and says so, to deciders and auditors alike.
func TestApprovalShowsHiddenCharacters(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue(t, "vargate_send_email", "{\"to\":\"\\\"\u202emoc.ynapmoc-ruo@sso\u202c\\\" <drop@attacker.example>\",\"subject\":\"Zero\u200bwidth\"}")
	for _, key := range []string{f.approverKey, f.auditorKey} {
		b := f.browser(t)
		b.signIn(key)
		for _, path := range []string{"/ui/approvals", "/ui/approvals/" + a.ID} {
			p := b.get(path)
			if strings.ContainsAny(p.body, "\u202e\u202c\u200b") {
				t.Errorf("%s: the page holds the raw hidden characters", path)
			}
			if key == f.auditorKey {
				// The auditor's masked view has no recipient to flag.
				if strings.Contains(p.body, "drop@attacker.example") {
					t.Errorf("%s: the auditor sees the exact arguments", path)
				}
				continue
			}
			for _, want := range []string{"this value contains hidden direction marks", `\u202Emoc.ynapmoc-ruo@sso\u202C`, "this value contains invisible characters"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("%s: the page lacks %q", path, want)
				}
			}
		}
	}
}

func TestApproveAndReject(t *testing.T) {
	f := newFixture(t)
	first := f.enqueue(t, "vargate_send_email", `{"to":"jane.doe@example.com","subject":"Quarterly report"}`)
	second := f.enqueue(t, "vargate_send_email", `{"to":"john@example.com","subject":"Invoice"}`)
	b := f.browser(t)
	b.signIn(f.approverKey)

	// The approver decides on the exact arguments: the recipient is what
	// an approver of an e-mail must see.
	p := b.get("/ui/approvals")
	for _, want := range []string{first.ID, second.ID, "vargate_send_email", "jane.doe@example.com", "requires_approval: vargate_send_email needs a human", f.agentCfg.ID, "vs-0123456789abcdef"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "[REDACTED:email]") {
		t.Error("the approver's queue masks the recipient")
	}
	// An auditor keeps the masked view.
	aud := f.browser(t)
	aud.signIn(f.auditorKey)
	if p := aud.get("/ui/approvals"); !strings.Contains(p.body, "[REDACTED:email]") || strings.Contains(p.body, "jane.doe@example.com") {
		t.Error("the auditor's queue does not mask the recipient")
	}
	if p := aud.get("/ui/approvals/" + first.ID); !strings.Contains(p.body, "[REDACTED:email]") || strings.Contains(p.body, "jane.doe@example.com") {
		t.Error("the auditor's detail page does not mask the recipient")
	}

	tok := b.csrf("/ui/approvals")
	p = b.post("/ui/approvals/"+first.ID+"/reject", url.Values{"csrf_token": {tok}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("reject without reason: %d", p.status)
	}
	if got, _ := f.queue.Get(t.Context(), f.tenant, first.ID); got.Status != approval.StatusPending {
		t.Errorf("a rejection without a reason changed the action to %s", got.Status)
	}
	if p = b.get("/ui/approvals"); !strings.Contains(p.body, "Give a reason") {
		t.Error("no message asks for a reason")
	}

	p = b.post("/ui/approvals/"+first.ID+"/approve", url.Values{"csrf_token": {tok}, "reason": {"looks right"}})
	if p.status != http.StatusSeeOther || p.location != "/ui/approvals" {
		t.Fatalf("approve: %d to %q", p.status, p.location)
	}
	got, err := f.queue.Get(t.Context(), f.tenant, first.ID)
	if err != nil || got.Status != approval.StatusExecuted || got.DecidedBy != f.approverID || got.Note != "looks right" {
		t.Errorf("after approval: status %s by %q note %q (%v), want executed by %s", got.Status, got.DecidedBy, got.Note, err, f.approverID)
	}
	if p = b.get("/ui/approvals"); !strings.Contains(p.body, "it ran") {
		t.Error("no message says the action ran")
	}
	// Deciding twice is a conflict, shown as a message.
	b.post("/ui/approvals/"+first.ID+"/approve", url.Values{"csrf_token": {tok}})
	if p = b.get("/ui/approvals"); !strings.Contains(p.body, "Not decided") {
		t.Error("a second decision is not reported")
	}
	if f.exec.count() != 1 {
		t.Errorf("%d executions, want 1", f.exec.count())
	}

	b.post("/ui/approvals/"+second.ID+"/reject", url.Values{"csrf_token": {tok}, "reason": {"wrong recipient"}})
	if got, _ := f.queue.Get(t.Context(), f.tenant, second.ID); got.Status != approval.StatusRejected || got.Note != "wrong recipient" {
		t.Errorf("after rejection: %s %q", got.Status, got.Note)
	}

	// The detail page shows the approver the exact arguments too.
	p = b.get("/ui/approvals/" + first.ID)
	if p.status != http.StatusOK || !strings.Contains(p.body, "executed") || !strings.Contains(p.body, "jane.doe@example.com") {
		t.Errorf("detail page: status %d, executed shown %v, address shown %v", p.status,
			strings.Contains(p.body, "executed"), strings.Contains(p.body, "jane.doe@example.com"))
	}

	// Another tenant's admin cannot see the action.
	o := f.browser(t)
	o.signIn(f.otherAdminKey)
	if p := o.get("/ui/approvals/" + first.ID); p.status != http.StatusNotFound {
		t.Errorf("other tenant's detail page: %d, want 404", p.status)
	}
}

func TestQueueFragment(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.approverKey)
	version := regexp.MustCompile(`data-version="([^"]*)"`)
	fragment := func() page {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+"/ui/approvals/queue", nil)
		req.Header.Set("X-Requested-With", "vargate")
		return b.do(req)
	}
	empty := fragment()
	a := f.enqueue(t, "vargate_send_email", `{"to":"x@example.com"}`)
	one := fragment()
	if !strings.Contains(one.body, a.ID) || strings.Contains(empty.body, a.ID) {
		t.Fatal("the fragment does not follow the queue")
	}
	if v0, v1 := version.FindStringSubmatch(empty.body), version.FindStringSubmatch(one.body); v0 == nil || v1 == nil || v0[1] == v1[1] {
		t.Errorf("versions %v and %v, want two different ones", v0, v1)
	}
	if strings.Contains(one.body, "<html") {
		t.Error("the fragment is a whole page")
	}
}

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.adminKey)
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	if p := f.browser(t).get("/ui/login"); p.header.Get("Content-Security-Policy") == "" {
		t.Error("the sign-in page has no CSP")
	}
	for _, path := range []string{"/ui/", "/ui/approvals", "/ui/audit", "/ui/agents", "/ui/agents/new", "/ui/policies", "/ui/settings/credentials", "/ui/settings/keys"} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, p.status)
			continue
		}
		csp := p.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		for _, tag := range inline.FindAllString(p.body, -1) {
			if !strings.Contains(tag, " src=") {
				t.Errorf("GET %s: inline script %s", path, tag)
			}
		}
		if strings.Contains(p.body, " style=") || strings.Contains(p.body, " onclick=") {
			t.Errorf("GET %s: inline style or handler", path)
		}
	}
	if p := b.get("/ui/static/app.js"); p.status != http.StatusOK || !strings.Contains(p.header.Get("Content-Type"), "javascript") {
		t.Errorf("app.js: %d %s", p.status, p.header.Get("Content-Type"))
	}
}

func TestAgentPages(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.adminKey)
	tok := b.csrf("/ui/agents/new")
	form := url.Values{"csrf_token": {tok}, "name": {`<script>alert("x")</script> Mailer`}, "anthropic_model": {agent.DefaultModel},
		"system_prompt": {"Send the reports."}, "allowed_tools": {"vargate_send_email\nvargate_web_search"},
		"require_human_approval": {"vargate_send_*"}, "max_session_hours": {"2"}, "max_daily_sessions": {"5"},
		"max_delegation_depth": {"1"}, "risk_level": {"strict"}, "pii_detection": {"on"}, "network": {"limited"},
		"allowed_domains": {"example.com"}, "governed_builtin_tools": {"bash", "web_fetch"}}
	p := b.post("/ui/agents", form)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/ui/agents/agent-") {
		t.Fatalf("create: %d to %q\n%s", p.status, p.location, p.body)
	}
	id := strings.TrimPrefix(p.location, "/ui/agents/")
	cfg, err := f.agents.Get(t.Context(), f.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GovernanceProfile.RiskLevel != "strict" || len(cfg.AllowedTools) != 2 || len(cfg.GovernedBuiltinTools) != 2 || cfg.MaxSessionHours != 2 {
		t.Errorf("stored config %+v", cfg)
	}
	p = b.get("/ui/agents/" + id)
	if strings.Contains(p.body, `<script>alert("x")</script>`) || !strings.Contains(p.body, "&lt;script&gt;") {
		t.Error("the agent's name is not escaped")
	}

	form.Set("version", "1")
	form.Set("risk_level", "standard")
	if p = b.post("/ui/agents/"+id, form); p.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", p.status, p.body)
	}
	if cfg, _ = f.agents.Get(t.Context(), f.tenant, id); cfg.Version != 2 || cfg.GovernanceProfile.RiskLevel != "standard" {
		t.Errorf("after update: version %d risk %s", cfg.Version, cfg.GovernanceProfile.RiskLevel)
	}
	// A form of version 1 does not overwrite version 2.
	if p = b.post("/ui/agents/"+id, form); p.status != http.StatusConflict {
		t.Errorf("stale update: %d, want 409", p.status)
	}
	form.Set("version", "2")
	form.Set("max_session_hours", "lots")
	if p = b.post("/ui/agents/"+id, form); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "max_session_hours") {
		t.Errorf("bad hours: %d", p.status)
	}
}

func TestCredentialValuesNeverShown(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.adminKey)
	const secret = "brave-key-0123456789-secret"
	tok := b.csrf("/ui/settings/credentials")
	p := b.post("/ui/settings/credentials", url.Values{"csrf_token": {tok}, "tool_id": {"vargate_web_search"}, "credential_type": {"api_key"}, "value": {secret}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("register: %d\n%s", p.status, p.body)
	}
	p = b.get("/ui/settings/credentials")
	if !strings.Contains(p.body, "vargate_web_search") || !strings.Contains(p.body, "Registered") {
		t.Error("the credential is not listed")
	}
	// A rejected registration does not echo the value either.
	bad := b.post("/ui/settings/credentials", url.Values{"csrf_token": {tok}, "tool_id": {"x"}, "credential_type": {"no_such_type"}, "value": {secret}})
	if bad.status != http.StatusUnprocessableEntity {
		t.Errorf("bad type: %d", bad.status)
	}
	for _, pg := range []page{p, bad, b.get("/ui/settings/credentials?history=1")} {
		if strings.Contains(pg.body, secret) {
			t.Fatal("a page shows the credential value")
		}
	}
	cs, err := f.vault.List(t.Context(), f.tenant, vault.Filter{})
	if err != nil || len(cs) != 1 {
		t.Fatalf("%d credentials (%v)", len(cs), err)
	}
	b.post("/ui/settings/credentials/"+cs[0].ID+"/delete", url.Values{"csrf_token": {tok}})
	if cs, _ = f.vault.List(t.Context(), f.tenant, vault.Filter{}); len(cs) != 0 {
		t.Errorf("%d credentials after delete", len(cs))
	}
}

func TestKeyShownOnce(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.adminKey)
	tok := b.csrf("/ui/settings/keys")
	p := b.post("/ui/settings/keys", url.Values{"csrf_token": {tok}, "role": {"approver"}, "name": {"on-call"}})
	m := regexp.MustCompile(`id="new-key">(vgk_[A-Za-z0-9_-]+)<`).FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("create key: %d, secret shown: %v", p.status, m != nil)
	}
	if strings.Contains(b.get("/ui/settings/keys").body, m[1]) {
		t.Error("the key is shown again")
	}
	// The new key signs in.
	nb := f.browser(t)
	nb.signIn(m[1])
	// An admin cannot revoke the key it is signed in with.
	b.post("/ui/settings/keys/"+f.adminID+"/revoke", url.Values{"csrf_token": {tok}})
	if p := b.get("/ui/"); p.status != http.StatusOK {
		t.Errorf("the admin revoked its own key: %d", p.status)
	}
}

func TestPolicyPages(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.adminKey)
	const module = `package vargate.tenant

require_approval contains "large_amount" if {
	input.call.tool == "vargate_create_charge"
	input.call.arguments.amount > 5000
}

test_large_charge if {
	r := data.vargate.base.result with input as {
		"agent": {"allowed_tools": ["vargate_create_charge"]},
		"call": {"tool": "vargate_create_charge", "arguments": {"amount": 9000}},
		"pii": [], "time": "2026-04-11T10:00:00Z",
	}
	"large_amount" in r.require_approval
}
`
	tok := b.csrf("/ui/policies")
	p := b.post("/ui/policies", url.Values{"csrf_token": {tok}, "label": {"v1"}, "source": {module}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "test_large_charge") || !strings.Contains(p.body, "1 test, 0 failed") {
		t.Fatalf("upload: %d\n%s", p.status, p.body)
	}
	broken := strings.Replace(module, `"large_amount" in r.require_approval`, `"other" in r.require_approval`, 1)
	if p = b.post("/ui/policies", url.Values{"csrf_token": {tok}, "label": {"v2"}, "source": {broken}}); p.status != http.StatusUnprocessableEntity {
		t.Errorf("failing test: %d, want 422", p.status)
	}
	if p = b.post("/ui/policies/v1/activate", url.Values{"csrf_token": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("activate: %d", p.status)
	}
	if label, _ := f.web.Policies.Active(t.Context(), f.tenant); label != "v1" {
		t.Errorf("active version %q, want v1", label)
	}
	if v, err := f.engine.ActiveVersion(t.Context(), f.tenant); err != nil || v.Label != "v1" {
		t.Errorf("engine's active version %v (%v), want v1", v, err)
	}
	if p = b.get("/ui/policies/v1"); !strings.Contains(p.body, "large_amount") {
		t.Error("the version page does not show the module")
	}

	// v2, activated, then rolled back to v1.
	if p = b.post("/ui/policies", url.Values{"csrf_token": {tok}, "label": {"v2"}, "source": {"package vargate.tenant\n"}}); p.status != http.StatusOK {
		t.Fatalf("upload v2: %d", p.status)
	}
	b.post("/ui/policies/v2/activate", url.Values{"csrf_token": {tok}})
	if label, _ := f.web.Policies.Active(t.Context(), f.tenant); label != "v2" {
		t.Fatalf("active version %q, want v2", label)
	}
	// A rollback aimed at the wrong target is refused.
	b.post("/ui/policies/rollback", url.Values{"csrf_token": {tok}, "to": {"v7"}})
	if label, _ := f.web.Policies.Active(t.Context(), f.tenant); label != "v2" {
		t.Fatalf("after a stale rollback the active version is %q, want v2", label)
	}
	if p = b.post("/ui/policies/rollback", url.Values{"csrf_token": {tok}, "to": {"v1"}}); p.status != http.StatusSeeOther {
		t.Fatalf("rollback: %d", p.status)
	}
	if v, err := f.engine.ActiveVersion(t.Context(), f.tenant); err != nil || v.Label != "v1" {
		t.Errorf("after the rollback the engine's version is %v (%v), want v1", v, err)
	}
	p = b.get("/ui/policies")
	for _, want := range []string{"Rolled back: v1 is active again", "Activation history", "rollback</span>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("policies page lacks %q", want)
		}
	}
	// Every change is in the audit trail.
	recs, err := f.log.Store.List(t.Context(), f.tenant, audit.Filter{Source: audit.SourceControlPlane})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range recs {
		if strings.HasPrefix(r.Decision, "policy.") {
			events = append(events, r.Decision+" "+r.PolicyVersion)
		}
	}
	want := "policy.rolled_back v1,policy.activated v2,policy.uploaded v2,policy.activated v1,policy.uploaded v1"
	if got := strings.Join(events, ","); got != want {
		t.Errorf("audit records\n got %s\nwant %s", got, want)
	}
}

func TestWebhookPage(t *testing.T) {
	f := newFixture(t)
	var pings atomic.Int32
	receiver := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-signature") != "" {
			pings.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	b := f.browser(t)
	b.signIn(f.adminKey)
	tok := b.csrf("/ui/settings/webhook")
	p := b.post("/ui/settings/webhook", url.Values{"csrf_token": {tok}, "url": {receiver + "/hook"}, "events": {"action.pending_approval", "session.interrupted"}})
	m := regexp.MustCompile(`id="new-secret">([^<]+)<`).FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil || !strings.HasPrefix(html.UnescapeString(m[1]), "whsec_") {
		t.Fatalf("save: %d, secret shown: %v\n%s", p.status, m != nil, p.body)
	}
	st, err := f.hooks.Settings(t.Context(), f.tenant)
	if err != nil || st.URL != receiver+"/hook" || len(st.Events) != 2 {
		t.Fatalf("settings %+v (%v)", st, err)
	}
	if strings.Contains(b.get("/ui/settings/webhook").body, m[1]) {
		t.Error("the signing secret is shown again")
	}
	// Saving again keeps the secret and shows none.
	if p = b.post("/ui/settings/webhook", url.Values{"csrf_token": {tok}, "url": {receiver + "/hook2"}}); p.status != http.StatusSeeOther {
		t.Errorf("second save: %d", p.status)
	}
	b.post("/ui/settings/webhook/test", url.Values{"csrf_token": {tok}})
	if p = b.get("/ui/settings/webhook"); !strings.Contains(p.body, "Test ping delivered") || !strings.Contains(p.body, "webhook.test") {
		t.Error("the test ping is not reported delivered and logged")
	}
	if pings.Load() != 1 {
		t.Errorf("%d signed pings received, want 1", pings.Load())
	}
	b.post("/ui/settings/webhook/delete", url.Values{"csrf_token": {tok}})
	if _, err := f.hooks.Settings(t.Context(), f.tenant); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("after removal: %v, want not found", err)
	}
}

// brokenAudit reports a broken chain, as audit.Verify does for a log
// someone edited.
type brokenAudit struct{ *audit.Log }

func (brokenAudit) Verify(context.Context, string, ...string) (audit.VerifyResult, error) {
	return audit.VerifyResult{Valid: false, RecordsChecked: 6, FirstInvalidSeq: 7, Reason: "record 7: hash does not match its contents"}, nil
}

func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue(t, "vargate_send_email", `{"to":"x@example.com"}`)
	if _, err := f.queue.Reject(t.Context(), vargate.Principal{TenantID: f.tenant, Role: vargate.RoleApprover, KeyID: f.approverID}, a.ID, "no"); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(f.auditorKey)
	p := b.get("/ui/audit?verify=1")
	for _, want := range []string{"intact", "agent.created", "Latest signed checkpoint", f.log.PublicKey()} {
		if !strings.Contains(html.UnescapeString(p.body), want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	p = b.get("/ui/audit?source=approval")
	if !strings.Contains(p.body, "rejected") || strings.Contains(p.body, "agent.created") {
		t.Error("the source filter does not filter")
	}
	for _, bad := range []string{"?source=nope", "?since=yesterday", "?before=x"} {
		if p := b.get("/ui/audit" + bad); p.status != http.StatusUnprocessableEntity {
			t.Errorf("GET /ui/audit%s: %d, want 422", bad, p.status)
		}
	}

	// A broken chain is shown as broken, with the first bad record.
	srv := &web.Server{Keys: f.auth, KeyStore: f.auth.Store, Audit: brokenAudit{f.log}, Records: f.log.Store}
	ts := httptestServer(t, srv.Handler())
	bb := f.browser(t)
	bb.base = ts
	bb.signIn(f.auditorKey)
	p = bb.get("/ui/audit")
	if !strings.Contains(p.body, "broken") || !strings.Contains(p.body, "first bad record #7") {
		t.Errorf("broken chain not shown:\n%s", p.body)
	}
	if p = bb.get("/ui/"); !strings.Contains(p.body, "broken") {
		t.Error("the overview does not show the broken chain")
	}
}

// Two gateways on one database share sign-in sessions: signed in through
// one, the browser is signed in at the other, its CSRF token works there,
// and signing out at the other ends the session at both. A gateway with
// the default in-memory store does not know the session.
func TestSigninSharedBetweenGateways(t *testing.T) {
	f := newFixture(t)
	shared := sqlstore.NewSigninStore(f.db)
	f.web.Signins = shared
	gateway := func(signins auth.SigninStore) *httptest.Server {
		g := &web.Server{Keys: f.web.Keys, KeyStore: f.web.KeyStore, Approvals: f.web.Approvals, Audit: f.web.Audit,
			Records: f.web.Records, Agents: f.web.Agents, Credentials: f.web.Credentials, Policies: f.web.Policies,
			Webhooks: f.web.Webhooks, Signins: signins}
		mux := http.NewServeMux()
		g.Mount(mux)
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		return ts
	}
	other, third := gateway(shared), gateway(nil)

	a := f.browser(t)
	a.signIn(f.adminKey)
	b := &browser{t: t, base: other.URL, client: a.client} // the same browser, the other gateway
	if p := b.get("/ui/approvals"); p.status != http.StatusOK {
		t.Fatalf("the other gateway does not know the session: %d", p.status)
	}
	if p := (&browser{t: t, base: third.URL, client: a.client}).get("/ui/approvals"); p.status != http.StatusSeeOther {
		t.Errorf("a gateway with its own in-memory sessions accepted the cookie: %d", p.status)
	}
	tok := b.csrf("/ui/")
	if p := b.post("/ui/logout", url.Values{"csrf_token": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out at the other gateway: %d", p.status)
	}
	if p := a.get("/ui/approvals"); p.status != http.StatusSeeOther {
		t.Errorf("signed out at one gateway, the session still works at the first: %d", p.status)
	}
}
