package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/audit"
)

// auditedRecord is what the coverage test reads of a record.
type auditedRecord struct {
	Seq      int64           `json:"seq"`
	Source   string          `json:"source"`
	Decision string          `json:"decision"`
	Actor    string          `json:"actor"`
	Tool     string          `json:"tool"`
	Detail   json.RawMessage `json:"detail"`
}

func (r auditedRecord) actorName() string {
	var d struct {
		ActorName string `json:"actor_name"`
	}
	_ = json.Unmarshal(r.Detail, &d)
	return d.ActorName
}

// records returns the tenant's trail after seq, oldest first.
func (g *gateway) records(t *testing.T, key string, after int64) []auditedRecord {
	t.Helper()
	req, _ := http.NewRequest("GET", g.URL+"/api/audit?limit=500", nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Records []auditedRecord `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	var out []auditedRecord
	for i := len(page.Records) - 1; i >= 0; i-- {
		if page.Records[i].Seq > after {
			out = append(out, page.Records[i])
		}
	}
	return out
}

// cli runs a vargate subcommand against the gateway's data directory.
func (g *gateway) cli(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	env := &environment{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(k string) string { return g.Env[k] }}
	if err := run(t.Context(), env, args); err != nil {
		t.Fatalf("vargate %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestAuditCoverageOfTheControlPlane performs every control-plane route
// and CLI command, and the dashboard's sign-in, failed sign-in and
// sign-out, and finds exactly one record of each in the trail, naming the
// actor's key ID and key name (or "cli" / "system"). A fresh gateway's
// first `vargate audit verify` already finds the tenant and key it
// created.
func TestAuditCoverageOfTheControlPlane(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(recv.Close)
	g := startServe(t, map[string]string{"VARGATE_WEBHOOK_ALLOW_PRIVATE": "true"})

	if out := g.cli(t, "audit", "verify"); strings.Contains(out, "no audit records") || !strings.Contains(out, "valid") {
		t.Errorf("a fresh gateway's audit verify:\n%s", out)
	}
	_, tenant := g.do(t, "GET", "/api/tenant", g.Key, "")
	tenantID, _ := tenant["id"].(string)
	var bootstrapKey string
	{
		recs := g.records(t, g.Key, 0)
		var events []string
		for _, r := range recs {
			events = append(events, r.Decision+"/"+r.Actor)
			if r.Decision == string(audit.EventKeyCreated) {
				var d audit.ControlPlaneDetail
				var sub audit.KeySubject
				d.Subject = &sub
				_ = json.Unmarshal(r.Detail, &d)
				bootstrapKey = sub.KeyID
			}
		}
		if want := []string{"tenant.created/system", "api_key.created/system"}; fmt.Sprint(events) != fmt.Sprint(want) {
			t.Fatalf("bootstrap records = %v, want %v", events, want)
		}
	}

	// The actions, in order. Each is one request (or CLI command) and
	// must add exactly one record with the given source and actor.
	last := g.records(t, g.Key, 0)
	seq := last[len(last)-1].Seq
	expect := func(what, source, actor, actorName string) {
		t.Helper()
		recs := g.records(t, g.Key, seq)
		var got []auditedRecord
		for _, r := range recs {
			seq = r.Seq
			if r.Source == "control_plane" || r.Source == "credential" {
				got = append(got, r)
			}
		}
		if len(got) != 1 {
			t.Errorf("%s: %d records, want 1: %+v", what, len(got), got)
			return
		}
		if r := got[0]; r.Source != source || r.Actor != actor || r.actorName() != actorName {
			t.Errorf("%s: record %s by %q (%q), want %s by %q (%q): %s", what, r.Source, r.Actor, r.actorName(), source, actor, actorName, r.Detail)
		}
	}
	api := func(method, path, body string, want int) map[string]any {
		t.Helper()
		code, out := g.do(t, method, path, g.Key, body)
		if code != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
		}
		return out
	}
	const actorName = "bootstrap"
	cp := func(what string) { t.Helper(); expect(what, "control_plane", bootstrapKey, actorName) }

	key := api("POST", "/api/keys", `{"role":"auditor","name":"reader"}`, 201)
	cp("POST /keys")
	api("DELETE", "/api/keys/"+key["id"].(string), "", 200)
	cp("DELETE /keys/{id}")

	cred := api("POST", "/api/credentials/register", `{"tool_id":"http:api.example.com","credential_type":"api_key","value":"coverage-secret"}`, 201)
	expect("POST /credentials/register", "credential", bootstrapKey, actorName)
	api("DELETE", "/api/credentials/"+cred["id"].(string), "", 200)
	expect("DELETE /credentials/{id}", "credential", bootstrapKey, actorName)

	agent := api("POST", "/api/managed/agents", `{"name":"Coverage"}`, 201)
	cp("POST /managed/agents")
	agentID := agent["id"].(string)
	api("PATCH", "/api/managed/agents/"+agentID, `{"name":"Coverage 2"}`, 200)
	cp("PATCH /managed/agents/{id}")

	api("POST", "/api/keys", `{"role":"agent","agent_id":"`+agentID+`","name":"bot"}`, 201)
	cp("POST /keys (agent)")
	// An agent key for an agent that does not exist (or is another
	// tenant's) is refused, and nothing is recorded.
	api("POST", "/api/keys", `{"role":"agent","agent_id":"agent-does-not-exist"}`, 422)
	expectNone := func(what string) {
		t.Helper()
		for _, r := range g.records(t, g.Key, seq) {
			seq = r.Seq
			if r.Source == "control_plane" {
				t.Errorf("%s wrote %s", what, r.Decision)
			}
		}
	}
	expectNone("a refused key")

	api("PUT", "/api/managed/settings", `{"max_concurrent_sessions":5}`, 200)
	cp("PUT /managed/settings")

	api("POST", "/api/policies", `{"label":"v-cover","modules":{}}`, 201)
	cp("POST /policies")
	api("POST", "/api/policies/v-cover/activate", "", 200)
	cp("POST /policies/{version}/activate")
	api("POST", "/api/policies", `{"label":"v-cover-2","modules":{},"activate":true}`, 201)
	expectN := func(what string, n int) {
		t.Helper()
		recs := 0
		for _, r := range g.records(t, g.Key, seq) {
			seq = r.Seq
			if r.Source == "control_plane" && r.Actor == bootstrapKey && r.actorName() == actorName {
				recs++
			}
		}
		if recs != n {
			t.Errorf("%s: %d records, want %d", what, recs, n)
		}
	}
	expectN("POST /policies with activate (upload and activation)", 2)
	api("POST", "/api/policies/rollback", "", 200)
	cp("POST /policies/rollback")

	api("POST", "/api/tools", `{"name":"cover_tool","description":"d","input_schema":{"type":"object"},"request":{"url":"https://api.example.com/x"}}`, 201)
	cp("POST /tools")
	api("DELETE", "/api/tools/cover_tool", "", 204)
	cp("DELETE /tools/{name}")

	api("POST", "/api/dashboard/settings", `{"webhook_url":"`+recv.URL+`/hook"}`, 200)
	cp("POST /dashboard/settings")
	api("PATCH", "/api/dashboard/settings", `{"webhook_secret":"whsec_`+strings.Repeat("QUJD", 8)+`"}`, 200)
	cp("PATCH /dashboard/settings (secret)")
	api("POST", "/api/webhooks/test", `{"unexpected":true}`, 422)
	expectNone("a refused webhook test")
	msg := api("POST", "/api/webhooks/test", "", 200)
	cp("POST /webhooks/test")
	api("POST", "/api/webhooks/deliveries/"+msg["id"].(string)+"/retry", "", 200)
	cp("POST /webhooks/deliveries/{id}/retry")

	api("DELETE", "/api/managed/agents/"+agentID, "", 200)
	cp("DELETE /managed/agents/{id}")

	// The command line acts as "cli".
	out := g.cli(t, "key", "create", "--tenant", tenantID, "--role", "approver", "--name", "cli-key", "--json")
	var created struct {
		KeyID  string `json:"key_id"`
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("key create: %v\n%s", err, out)
	}
	expect("vargate key create", "control_plane", audit.ActorCLI, "")
	g.cli(t, "key", "revoke", "--tenant", tenantID, created.KeyID)
	expect("vargate key revoke", "control_plane", audit.ActorCLI, "")
	out = g.cli(t, "tenant", "create", "second", "--json")
	var second struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &second); err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range g.records(t, second.APIKey, 0) {
		events = append(events, r.Decision+"/"+r.Actor)
	}
	if want := []string{"tenant.created/cli", "api_key.created/cli"}; fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("vargate tenant create: records %v, want %v", events, want)
	}

	// The dashboard: a refused sign-in of a known key (the revoked one),
	// a sign-in, a sign-out.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(path string) string {
		t.Helper()
		resp, err := client.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	csrf := func(body string) string {
		t.Helper()
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token in:\n%s", body)
		}
		return m[1]
	}
	post := func(path string, form url.Values) int {
		t.Helper()
		resp, err := client.PostForm(g.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/ui/login", url.Values{"csrf_token": {csrf(page("/ui/login"))}, "api_key": {created.APIKey}}); code != http.StatusUnauthorized {
		t.Fatalf("revoked key sign-in = %d", code)
	}
	expect("dashboard sign-in refused", "control_plane", created.KeyID, "cli-key")
	if code := post("/ui/login", url.Values{"csrf_token": {csrf(page("/ui/login"))}, "api_key": {g.Key}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", code)
	}
	cp("dashboard sign-in")
	if code := post("/ui/logout", url.Values{"csrf_token": {csrf(page("/ui/"))}}); code != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", code)
	}
	cp("dashboard sign-out")
}
