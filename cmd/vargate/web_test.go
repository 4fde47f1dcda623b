package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
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
	// The API is unchanged next to it.
	if code, _ := g.do(t, "GET", "/api/tenant", g.Key, ""); code != http.StatusOK {
		t.Errorf("GET /api/tenant = %d", code)
	}
}
