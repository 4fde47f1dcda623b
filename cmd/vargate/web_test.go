package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/sim"
)

// TestServeDashboard checks that the running gateway serves the dashboard
// on the API's listener: / sends a browser to /ui/, and the bootstrap
// admin key signs in.
func TestServeDashboard(t *testing.T) {
	g := startServe(t, nil)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET / = %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get("/ui/login")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /ui/login = %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	resp, err = client.PostForm(g.URL+"/ui/login", url.Values{"csrf_token": {m[1]}, "api_key": {g.Key}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("sign in = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/ui/", "/ui/approvals", "/ui/sessions", "/ui/audit", "/ui/agents", "/ui/policies", "/ui/settings/webhook", "/ui/settings/credentials", "/ui/settings/keys"} {
		if resp, body := get(path); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out") {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	// Every link of the navigation works for every human role: a role
	// is not shown a page it may not open.
	for _, role := range []string{"approver", "auditor"} {
		code, k := g.do(t, "POST", "/api/keys", g.Key, `{"role":"`+role+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("create %s key = %d %v", role, code, k)
		}
		jar, _ := cookiejar.New(nil)
		client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		_, body := get("/ui/login")
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
		if resp, err := client.PostForm(g.URL+"/ui/login", url.Values{"csrf_token": {m[1]}, "api_key": {k["api_key"].(string)}}); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s sign in: %v", role, err)
		} else {
			resp.Body.Close()
		}
		_, home := get("/ui/")
		nav := regexp.MustCompile(`(?s)<nav class="nav"[^>]*>(.*?)</nav>`).FindStringSubmatch(home)
		if nav == nil {
			t.Fatalf("%s: no navigation", role)
		}
		if hasSettings := strings.Contains(nav[1], ">Settings<"); hasSettings != (role == "auditor") {
			t.Errorf("%s: Settings in the navigation: %v", role, hasSettings)
		}
		for _, link := range regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(nav[1], -1) {
			if resp, _ := get(link[1]); resp.StatusCode != http.StatusOK {
				t.Errorf("%s: navigation link %s = %d", role, link[1], resp.StatusCode)
			}
		}
	}

	// The API is unchanged next to it.
	if code, _ := g.do(t, "GET", "/api/tenant", g.Key, ""); code != http.StatusOK {
		t.Errorf("GET /api/tenant = %d", code)
	}
}

// signIn signs key in to the dashboard and returns a GET through the
// signed-in browser session (status and body).
func signIn(t *testing.T, g *gateway, key string) func(path string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := get("/ui/login")
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	resp, err := client.PostForm(g.URL+"/ui/login", url.Values{"csrf_token": {m[1]}, "api_key": {key}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %v", err)
	}
	resp.Body.Close()
	return get
}

// A session that has ended is shown as ended: no "live" marker, no
// interrupt form; a model name stays on one line in the agents table.
func TestDashboardEndedSession(t *testing.T) {
	g, _ := startSimGateway(t, sim.Scenario{Name: "answer", Steps: []sim.Step{{Type: sim.StepMessage, Text: "Done."}, {Type: sim.StepEndTurn}}})
	code, agent := g.do(t, "POST", "/api/managed/agents", g.Key, `{"name":"Research Assistant","anthropic_model":"claude-sonnet-4-6","allowed_tools":["vargate_web_search"]}`)
	if code != 201 {
		t.Fatalf("create agent = %d %v", code, agent)
	}
	code, sess := g.do(t, "POST", "/api/managed/sessions", g.Key, `{"agent_id":"`+agent["id"].(string)+`","user_message":"Hello"}`)
	if code != 201 {
		t.Fatalf("create session = %d %v", code, sess)
	}
	id := sess["session_id"].(string)
	waitSessionStatus(t, g, id, "completed")
	get := signIn(t, g, g.Key)
	code, page := get("/ui/sessions/" + id)
	if code != 200 {
		t.Fatalf("session page = %d", code)
	}
	if strings.Contains(page, "live-dot") || !strings.Contains(page, ">ended<") {
		t.Errorf("an ended session's page says it is live")
	}
	if strings.Contains(page, `action="/ui/sessions/`+id+`/interrupt"`) || !strings.Contains(page, "nothing to interrupt") {
		t.Errorf("an ended session's page offers to interrupt it")
	}
	if code, body := g.do(t, "POST", "/api/managed/sessions/"+id+"/interrupt", g.Key, `{"reason":"late"}`); code != 409 {
		t.Errorf("interrupt of a completed session = %d %v, want 409", code, body)
	}
	_, agents := get("/ui/agents")
	if !regexp.MustCompile(`<td class="[^"]*\bnowrap\b[^"]*">claude-sonnet-4-6</td>`).MatchString(agents) {
		t.Errorf("the model name may wrap mid-word in the agents table")
	}
}
