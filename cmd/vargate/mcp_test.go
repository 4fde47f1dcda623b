package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/testwait"
)

// fakeSearch answers like the Brave Search API for the key "brave-key".
func fakeSearch(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Subscription-Token") != "brave-key" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"web":{"results":[{"title":"Result for %s","url":"https://example.com/","description":"d"}]}}`, r.URL.Query().Get("q"))
	}))
	t.Cleanup(ts.Close)
	return ts
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func mcpConnect(ctx context.Context, url, token string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "serve-test", Version: "1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, nil)
}

// TestServeMCP runs the governed MCP server inside `vargate serve`, set
// up through the API as an operator would: an agent configuration, an
// agent key bound to it, a brokered web search key, a tenant tool.
func TestServeMCP(t *testing.T) {
	search := fakeSearch(t)
	crmKeys := make(chan string, 10)
	crmHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		crmKeys <- r.Header.Get("X-Api-Key")
		// It echoes the credential back, as a careless API would.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"contact":%q,"key":%q}`, r.URL.Path, r.Header.Get("X-Api-Key"))
	})
	crm := httptest.NewServer(crmHandler)
	t.Cleanup(crm.Close)
	crmTLS := httptest.NewTLSServer(crmHandler)
	t.Cleanup(crmTLS.Close)
	g := startServe(t, map[string]string{"VARGATE_WEB_SEARCH_URL": search.URL, "VARGATE_ALLOW_PRIVATE_TARGETS": "true",
		"VARGATE_TOOL_CA_FILE": writeCA(t, crmTLS)})

	// The tool is declared before an agent may be allowed it.
	// A credential never travels over plain http: the tool is refused
	// with it, and declared without it.
	crmTool := `{"name":"crm_lookup","description":"Look up a contact","input_schema":{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]},` +
		`"request":{"url":"` + crm.URL + `/contacts/{id}"},"credential":{"tool_id":"http:127.0.0.1","in":"header","param":"X-Api-Key"},"read_only":true}`
	if code, out := g.do(t, "POST", "/api/tools", g.Key, crmTool); code != 422 || !strings.Contains(fmt.Sprint(out), "request.url") {
		t.Errorf("tool sending a credential over http = %d %v, want 422 naming request.url", code, out)
	}
	code, tool := g.do(t, "POST", "/api/tools", g.Key, strings.Replace(crmTool, crm.URL, crmTLS.URL, 1))
	if code != 201 || tool["name"] != "crm_lookup" {
		t.Fatalf("create tool = %d %v", code, tool)
	}
	code, agent := g.do(t, "POST", "/api/managed/agents", g.Key, `{"name":"Research Assistant","allowed_tools":["vargate_web_search","crm_lookup"]}`)
	if code != 201 {
		t.Fatalf("create agent = %d %v", code, agent)
	}
	code, key := g.do(t, "POST", "/api/keys", g.Key, `{"role":"agent","agent_id":"`+agent["id"].(string)+`"}`)
	if code != 201 {
		t.Fatalf("create agent key = %d %v", code, key)
	}
	agentKey, _ := key["api_key"].(string)
	for _, body := range []string{
		`{"tool_id":"vargate_web_search","credential_type":"api_key","value":"brave-key"}`,
		`{"tool_id":"http:127.0.0.1","credential_type":"api_key","value":"crm-key"}`,
	} {
		if code, out := g.do(t, "POST", "/api/credentials/register", g.Key, body); code != 201 {
			t.Fatalf("register credential = %d %v", code, out)
		}
	}
	if code, list := g.do(t, "GET", "/api/tools", g.Key, ""); code != 200 || list["count"] != 1.0 {
		t.Errorf("GET /tools = %d %v", code, list)
	}

	ctx := t.Context()
	cs, err := mcpConnect(ctx, g.URL+"/api/mcp/server", agentKey)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, g.Stderr)
	}
	defer cs.Close()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if want := []string{"crm_lookup", "vargate_approval_status", "vargate_web_search"}; !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
	for _, c := range []struct {
		tool, args, want string
		isError          bool
	}{
		{"vargate_web_search", `{"query":"governance"}`, "Result for governance", false},
		{"crm_lookup", `{"id":"42"}`, `\"key\":\"[REDACTED:credential]\"`, false},
		{"vargate_web_search", `{"query":"key sk-ant-api03-` + strings.Repeat("A", 60) + `"}`, "secret_in_arguments", true},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: json.RawMessage(c.args)})
		if err != nil {
			t.Fatalf("%s: %v", c.tool, err)
		}
		b, _ := json.Marshal(res)
		if res.IsError != c.isError || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %s, want isError=%v and %q", c.tool, c.args, b, c.isError, c.want)
		}
	}
	// The CRM got the credential over https; the agent got it scrubbed.
	if key := <-crmKeys; key != "crm-key" {
		t.Errorf("the CRM received X-Api-Key %q, want the registered credential", key)
	}
	if _, err := mcpConnect(ctx, g.URL+"/mcp/server", g.Key); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("admin key on the MCP server: %v, want Forbidden", err)
	}
	// The request log names the tenant of an MCP call, as of any API call.
	_, tenant := g.do(t, "GET", "/api/tenant", g.Key, "")
	var logged bool
	for line := range strings.SplitSeq(g.Stderr.String(), "\n") {
		var l struct {
			Msg      string `json:"msg"`
			Route    string `json:"route"`
			TenantID string `json:"tenant_id"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "request" || !strings.HasSuffix(l.Route, "/api/mcp/server") || l.TenantID == "" {
			continue
		}
		logged = true
		if l.TenantID != tenant["id"] {
			t.Errorf("MCP request logged for tenant %q, want %v", l.TenantID, tenant["id"])
		}
	}
	if !logged {
		t.Errorf("no request log line names the tenant of an MCP call:\n%s", g.Stderr)
	}
}

// TestServeSessionCallsGovernedTool lets a simulated managed agent call
// vargate_web_search on the gateway with its session's token, as the
// Managed Agents platform does, and checks that the session counts the
// governed call.
func TestServeSessionCallsGovernedTool(t *testing.T) {
	g, s := startSimGateway(t, sim.Scenario{Name: "search", Steps: []sim.Step{
		{Type: sim.StepMCPTool, Name: "vargate_web_search", Input: map[string]any{"query": "AI governance"}},
		{Type: sim.StepMessage, Text: "Done."},
		{Type: sim.StepEndTurn},
	}})
	code, agent := g.do(t, "POST", "/api/managed/agents", g.Key, `{"name":"Research Assistant","allowed_tools":["vargate_web_search"]}`)
	if code != 201 {
		t.Fatalf("create agent = %d %v", code, agent)
	}
	code, sess := g.do(t, "POST", "/api/managed/sessions", g.Key, `{"agent_id":"`+agent["id"].(string)+`","user_message":"Research AI governance."}`)
	if code != 201 {
		t.Fatalf("create session = %d %v\n%s", code, sess, g.Stderr)
	}
	id := sess["session_id"].(string)
	var status map[string]any
	testwait.For(t, 30*time.Second, "the session to end", func() bool {
		_, status = g.do(t, "GET", "/api/managed/sessions/"+id+"/status", g.Key, "")
		return status["status"] != "active"
	})
	if status["status"] != "completed" || status["total_governed_calls"] != 1.0 || status["total_denied"] != 0.0 {
		t.Errorf("status = %v, want completed with one governed call\n%s", status, g.Stderr)
	}
	events, err := s.Events(sess["anthropic_session_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var result string
	for _, e := range events {
		if e.Type == "agent.mcp_tool_result" {
			result = string(e.JSON)
		}
	}
	if !strings.Contains(result, "Result for AI governance") {
		t.Errorf("the agent's MCP tool result = %s", result)
	}
}

// A governed MCP call's policy input carries what the gateway knows of the
// session: governed calls and denials so far, and the anomaly score the
// event consumer gave its built-in tool calls. The session reads a private
// key in its first turn (observed, flagged; a permissive risk level keeps
// it running), then searches twice in the second.
func TestServeSessionFactsReachThePolicy(t *testing.T) {
	g, _ := startSimGateway(t, sim.Scenario{Name: "facts", Steps: []sim.Step{
		{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "cat ~/.ssh/id_rsa"}, Result: "-----BEGIN OPENSSH PRIVATE KEY-----"},
		{Type: sim.StepEndTurn},
		{Type: sim.StepMCPTool, Name: "vargate_web_search", Input: map[string]any{"query": "first"}},
		{Type: sim.StepMCPTool, Name: "vargate_web_search", Input: map[string]any{"query": "second"}},
		{Type: sim.StepEndTurn},
	}})
	code, agent := g.do(t, "POST", "/api/managed/agents", g.Key, `{"name":"Researcher","allowed_tools":["vargate_web_search"],"governance_profile":{"risk_level":"permissive"}}`)
	if code != 201 {
		t.Fatalf("create agent = %d %v", code, agent)
	}
	code, sess := g.do(t, "POST", "/api/managed/sessions", g.Key, `{"agent_id":"`+agent["id"].(string)+`","user_message":"Look around."}`)
	if code != 201 {
		t.Fatalf("create session = %d %v\n%s", code, sess, g.Stderr)
	}
	id := sess["session_id"].(string)
	waitStatus := func(what string, done func(map[string]any) bool) {
		t.Helper()
		var status map[string]any
		defer func() { // runs when For fails the test, too
			if !done(status) {
				t.Logf("%s: status %v\n%s", what, status, g.Stderr)
			}
		}()
		testwait.For(t, 30*time.Second, what, func() bool {
			_, status = g.do(t, "GET", "/api/managed/sessions/"+id+"/status", g.Key, "")
			return done(status)
		})
	}
	waitStatus("the key read to be observed", func(st map[string]any) bool {
		return st["status"] == "completed" && st["total_observed_calls"] == 1.0
	})
	if code, out := g.do(t, "POST", "/api/managed/sessions/"+id+"/messages", g.Key, `{"message":"Now search."}`); code != 202 {
		t.Fatalf("message = %d %v", code, out)
	}
	waitStatus("the searches", func(st map[string]any) bool {
		return st["status"] == "completed" && st["total_governed_calls"] == 2.0
	})
	_, recs := g.do(t, "GET", "/api/audit?session_id="+id+"&source=mcp_governed", g.Key, "")
	records, _ := recs["records"].([]any)
	if len(records) != 2 {
		t.Fatalf("governed records: %v", recs)
	}
	var calls []float64
	for i := len(records) - 1; i >= 0; i-- { // oldest first
		r := records[i].(map[string]any)
		var d struct {
			Input struct {
				Session struct {
					Calls        float64 `json:"calls"`
					Denials      float64 `json:"denials"`
					AnomalyScore float64 `json:"anomaly_score"`
				} `json:"session"`
			} `json:"input"`
		}
		raw, _ := json.Marshal(r["detail"])
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, d.Input.Session.Calls)
		if d.Input.Session.AnomalyScore <= 0 || d.Input.Session.AnomalyScore > 1 {
			t.Errorf("record %v: anomaly score %v, want the session's (0, 1]", r["seq"], d.Input.Session.AnomalyScore)
		}
	}
	if len(calls) != 2 || calls[0] != 0 || calls[1] != 1 {
		t.Errorf("session.calls in the inputs = %v, want [0 1]", calls)
	}
}

// startSimGateway starts the simulator with one scenario (its default)
// and a gateway on a known port in front of it, with a vargate_web_search
// credential registered: the agent reaches the gateway at the URL the
// session registers, so the gateway cannot listen on :0.
func startSimGateway(t *testing.T, sc sim.Scenario, extraEnv ...map[string]string) (*gateway, *sim.Server) {
	t.Helper()
	search := fakeSearch(t)
	s, err := sim.New(sim.Options{APIKey: "sk-ant-serve", StepDelay: time.Millisecond, Scenarios: []sim.Scenario{sc}, DefaultScenario: sc.Name})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(s)
	t.Cleanup(func() {
		_ = s.Close()
		simSrv.Close()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"ANTHROPIC_BASE_URL": simSrv.URL, "ANTHROPIC_API_KEY": "sk-ant-serve",
		"VARGATE_WEB_SEARCH_URL": search.URL, "VARGATE_LISTEN": addr, "VARGATE_MCP_SERVER_URL": "http://" + addr + "/api/mcp/server"}
	for _, e := range extraEnv {
		for k, v := range e {
			env[k] = v
		}
	}
	g := startServe(t, env)
	if code, out := g.do(t, "POST", "/api/credentials/register", g.Key, `{"tool_id":"vargate_web_search","credential_type":"api_key","value":"brave-key"}`); code != 201 {
		t.Fatalf("register = %d %v", code, out)
	}
	return g, s
}
