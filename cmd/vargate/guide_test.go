package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/webhook"
)

// The setup guide (shared/seed/managed-agents-setup-guide.txt) is our
// public contract: a user who follows it with our base URL must succeed.
// testdata/guide holds its curl commands and its Complete Python Example,
// copied verbatim; these tests run them against a real `vargate serve`
// whose Anthropic upstream is the simulator, changing only the base URL,
// the key and the IDs the guide shows as examples (taken from earlier
// answers, as a user would).

// The guide's example values and what replaces them.
const (
	guideBaseURL    = "https://vargate.ai/api"
	guideDeployURL  = "https://your-domain.com/api"
	guideKey        = "YOUR_VARGATE_API_KEY"
	guideAgentID    = "agent-a1b2c3d4e5f6"
	guideSessionID  = "vs-a1b2c3d4e5f6g7h8"
	guideActionID   = "550e8400-e29b-41d4-a716-446655440000"
	guideAnthropic  = "sk-ant-..."
	guideWebhookURL = "https://your-app.com/webhooks/vargate"
	guideSecret     = "whsec_..."
)

// guideRequest is one curl command of the guide.
type guideRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   string
}

// loadGuideCurls parses testdata/guide/curl.txt: the guide's curl
// commands in its order, separated by blank lines.
func loadGuideCurls(t *testing.T) []guideRequest {
	t.Helper()
	src, err := os.ReadFile("testdata/guide/curl.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []guideRequest
	for _, block := range strings.Split(strings.TrimSpace(string(src)), "\n\n") {
		args, err := shellSplit(block)
		if err != nil || len(args) == 0 || args[0] != "curl" {
			t.Fatalf("curl.txt: %q: %v", block, err)
		}
		r := guideRequest{Header: http.Header{}}
		for i := 1; i < len(args); i++ {
			switch args[i] {
			case "-X":
				i++
				r.Method = args[i]
			case "-H":
				i++
				k, v, _ := strings.Cut(args[i], ":")
				r.Header.Add(k, strings.TrimSpace(v))
			case "-d":
				i++
				r.Body = args[i]
			default:
				r.URL = args[i]
			}
		}
		if r.Method == "" {
			r.Method = "GET"
			if r.Body != "" {
				r.Method = "POST"
			}
		}
		out = append(out, r)
	}
	return out
}

// shellSplit splits a command line as sh would: single and double quotes,
// backslash escapes and line continuations; no expansions.
func shellSplit(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0:
				i++
				if s[i] != '\n' {
					cur.WriteByte(s[i])
				}
			default:
				cur.WriteByte(c)
			}
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// guideEnv is a `vargate serve` whose upstreams are the demo's built-in
// simulator (playing the guide's scenario), search engine and mail sink,
// with the OpenAPI document it serves ready to validate its answers.
type guideEnv struct {
	g    *gateway
	up   *demoUpstreams
	spec *apiSpec
}

func startGuideEnv(t *testing.T, extra map[string]string) *guideEnv {
	t.Helper()
	up, err := startDemoUpstreams(time.Millisecond, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	// The MCP URL given to the agent must name the gateway's real port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"ANTHROPIC_BASE_URL": up.SimURL, "VARGATE_WEB_SEARCH_URL": up.SearchURL,
		"VARGATE_LISTEN": addr, "VARGATE_MCP_SERVER_URL": "http://" + addr + "/api/mcp/server",
		// The mail sink and the webhook receiver are on loopback.
		"VARGATE_ALLOW_PRIVATE_TARGETS": "true", "VARGATE_WEBHOOK_ALLOW_PRIVATE": "true",
	}
	for k, v := range extra {
		env[k] = v
	}
	e := &guideEnv{g: startServe(t, env), up: up}
	e.spec = loadAPISpec(t, e.g.URL)
	return e
}

// call sends r with the guide's placeholders replaced, checks the answer
// against the OpenAPI document, and returns the status and decoded body.
func (e *guideEnv) call(t *testing.T, r guideRequest, subst map[string]string) (int, map[string]any) {
	t.Helper()
	pairs := []string{guideBaseURL, e.g.URL + "/api", guideDeployURL, e.g.URL + "/api", guideKey, e.g.Key}
	for k, v := range subst {
		pairs = append(pairs, k, v)
	}
	rep := strings.NewReplacer(pairs...)
	req, err := http.NewRequestWithContext(t.Context(), r.Method, rep.Replace(r.URL), strings.NewReader(rep.Replace(r.Body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, rep.Replace(v))
		}
	}
	return e.send(t, req)
}

// get sends an authenticated GET (outside the guide's own requests).
func (e *guideEnv) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.g.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", e.g.Key)
	return e.send(t, req)
}

func (e *guideEnv) send(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.spec.check(req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
		t.Errorf("%s %s: the answer does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, err, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out) // non-JSON bodies leave out nil
	return resp.StatusCode, out
}

// actionIDFromAgent returns the action ID that the agent of an upstream
// session was told in its pending_approval tool result, as the guide's
// "What the Agent Sees" shows it.
func (e *guideEnv) actionIDFromAgent(t *testing.T, upstreamID string) string {
	t.Helper()
	evs, err := e.up.Sim.Events(upstreamID)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`Action pending human approval\. Action ID: ([0-9a-f-]{36})\. Your request to send an email to [^"]* has been queued for review\.`)
	for _, ev := range evs {
		if ev.Type == "agent.mcp_tool_result" {
			if m := re.FindStringSubmatch(string(ev.JSON)); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("the agent was not told of a pending approval; its events: %d", len(evs))
	return ""
}

// pollStatus runs the guide's step 5 request until the session is no
// longer active, as the Python example's loop does.
func (e *guideEnv) pollStatus(t *testing.T, r guideRequest, subst map[string]string) map[string]any {
	t.Helper()
	var st map[string]any
	defer func() { // runs when For fails the test, too
		if st["status"] == "active" {
			t.Logf("last status %v\n%s", st, e.g.Stderr)
		}
	}()
	testwait.For(t, time.Minute, "the session to end", func() bool {
		var code int
		if code, st = e.call(t, r, subst); code != http.StatusOK {
			t.Fatalf("status = %d %v", code, st)
		}
		return st["status"] != "active"
	})
	return st
}

// webhookSink receives the gateway's webhooks.
type webhookSink struct {
	URL  string
	mu   sync.Mutex
	msgs []webhookDelivery
}

type webhookDelivery struct {
	Header http.Header
	Body   []byte
}

func startWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	s := &webhookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.msgs = append(s.msgs, webhookDelivery{r.Header.Clone(), body})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/webhooks/vargate"
	return s
}

// await returns the first delivery of event.
func (s *webhookSink) await(t *testing.T, event string) webhookDelivery {
	t.Helper()
	var found webhookDelivery
	testwait.For(t, 30*time.Second, "a "+event+" webhook", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range s.msgs {
			var p struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(m.Body, &p) == nil && p.Type == event {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// Indexes of the guide's curl commands in curl.txt.
const (
	curlRegister = iota
	curlCreateAgent
	curlCreateSession
	curlStatus
	curlAudit
	curlApprove
	curlReject
	curlWebhook
	curlInterrupt
	curlCompliance
	curlReplay
	curlHealth
	curlMCPHealth
	curlCount
)

// TestGuideCurl runs the guide's curl commands of steps 1, 2, 4, 5, 6, 7
// and 8 and the deployment's health checks, in the guide's order, and
// checks each answer's fields as the guide shows them. Step 6 runs on two
// sessions: one whose e-mail is approved, one whose e-mail is rejected.
func TestGuideCurl(t *testing.T) {
	curls := loadGuideCurls(t)
	if len(curls) != curlCount {
		t.Fatalf("curl.txt has %d commands, want %d", len(curls), curlCount)
	}
	for i, want := range map[int]string{
		curlRegister: "POST /credentials/register", curlCreateAgent: "POST /managed/agents", curlCreateSession: "POST /managed/sessions",
		curlStatus: "GET /status", curlAudit: "GET /audit?limit=50", curlApprove: "POST /approve/", curlReject: "POST /reject/",
		curlWebhook: "POST /dashboard/settings", curlInterrupt: "POST /interrupt", curlCompliance: "GET /compliance",
		curlReplay: "POST /replay", curlHealth: "GET /api/health", curlMCPHealth: "GET /api/mcp/server/health",
	} {
		method, frag, _ := strings.Cut(want, " ")
		if curls[i].Method != method || !strings.Contains(curls[i].URL, frag) {
			t.Fatalf("curl %d is %s %s, want %s", i, curls[i].Method, curls[i].URL, want)
		}
	}
	e := startGuideEnv(t, nil)
	g := e.g
	sub := map[string]string{guideAnthropic: demoAnthropicKey}

	// The governed tools' own keys (not part of the guide's steps): the
	// search engine's, and the mail account, so that approved e-mail is sent.
	for _, body := range []string{
		`{"tool_id":"vargate_web_search","credential_type":"api_key","value":"` + demoSearchKey + `"}`,
		fmt.Sprintf(`{"tool_id":"vargate_send_email","credential_type":"smtp","value":{"host":%q,"port":%d,"from":%q}}`, e.up.MailHost, e.up.MailPort, demoMailFrom),
	} {
		code, out := e.call(t, guideRequest{Method: "POST", URL: guideBaseURL + "/credentials/register",
			Header: http.Header{"X-Api-Key": {guideKey}, "Content-Type": {"application/json"}}, Body: body}, nil)
		if code != http.StatusCreated {
			t.Fatalf("register a tool credential = %d %v", code, out)
		}
	}

	// Step 1: the Anthropic key goes into the vault. The simulator accepts
	// only this key, and the gateway has no ANTHROPIC_API_KEY fallback.
	code, cred := e.call(t, curls[curlRegister], sub)
	if code != http.StatusCreated || cred["tool_id"] != "anthropic" || cred["credential_type"] != "api_key" || cred["version"] != 1.0 {
		t.Fatalf("step 1: register = %d %v", code, cred)
	}
	if _, leaked := cred["value"]; leaked || strings.Contains(fmt.Sprint(cred), demoAnthropicKey) {
		t.Errorf("step 1: the answer contains the key: %v", cred)
	}

	// Step 2: the agent configuration.
	code, agent := e.call(t, curls[curlCreateAgent], sub)
	if code != http.StatusCreated {
		t.Fatalf("step 2: create agent = %d %v", code, agent)
	}
	agentID, _ := agent["id"].(string)
	profile, _ := agent["governance_profile"].(map[string]any)
	if !regexp.MustCompile(`^agent-[0-9a-f]{12}$`).MatchString(agentID) || agent["name"] != "Research Assistant" ||
		agent["anthropic_model"] != "claude-sonnet-4-6" || agent["max_session_hours"] != 4.0 || agent["max_daily_sessions"] != 20.0 ||
		agent["max_delegation_depth"] != 1.0 || fmt.Sprint(agent["require_human_approval"]) != "[vargate_send_email]" ||
		fmt.Sprint(agent["allowed_tools"]) != "[vargate_web_search vargate_send_email vargate_read_database]" ||
		profile["risk_level"] != "standard" || profile["pii_detection"] != true {
		t.Errorf("step 2: agent = %v", agent)
	}
	sub[guideAgentID] = agentID

	// Step 4: a governed session, with the guide's response fields.
	createSession := func() map[string]any {
		t.Helper()
		code, sess := e.call(t, curls[curlCreateSession], sub)
		if code != http.StatusCreated {
			t.Fatalf("step 4: create session = %d %v\n%s", code, sess, g.Stderr)
		}
		created, _ := sess["created_at"].(string)
		if _, err := time.Parse(time.RFC3339, created); err != nil ||
			!regexp.MustCompile(`^vs-[0-9a-f]{16}$`).MatchString(fmt.Sprint(sess["session_id"])) ||
			!strings.HasPrefix(fmt.Sprint(sess["anthropic_session_id"]), "sesn_") || sess["tenant_id"] == "" ||
			sess["agent_id"] != agentID || sess["status"] != "active" || sess["governance"] != "active" ||
			!regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(fmt.Sprint(sess["system_prompt_hash"])) ||
			sess["mcp_server_url"] != g.URL+"/api/mcp/server" {
			t.Errorf("step 4: session = %v", sess)
		}
		return sess
	}
	sess := createSession()
	sessionID := sess["session_id"].(string)
	sub[guideSessionID] = sessionID

	// Step 5: status until the agent is done; the e-mail waits for a human.
	st := e.pollStatus(t, curls[curlStatus], sub)
	if st["session_id"] != sessionID || st["status"] != "awaiting_approval" || st["total_governed_calls"] != 2.0 ||
		st["total_observed_calls"] != 1.0 || st["total_denied"] != 0.0 || st["total_pending"] != 1.0 ||
		st["system_prompt_hash"] != sess["system_prompt_hash"] || st["created_at"] != sess["created_at"] {
		t.Errorf("step 5: status = %v", st)
	}
	code, trail := e.call(t, curls[curlAudit], sub)
	events, _ := trail["events"].([]any)
	if code != http.StatusOK || len(events) == 0 {
		t.Fatalf("step 5: audit = %d %v", code, trail)
	}
	var last float64
	bySource := map[string][]string{}
	for _, ev := range events {
		m := ev.(map[string]any)
		seq, _ := m["seq"].(float64)
		if seq <= last {
			t.Errorf("step 5: audit events out of order at seq %v", seq)
		}
		last = seq
		src, _ := m["source"].(string)
		bySource[src] = append(bySource[src], fmt.Sprint(m["tool"], ":", m["decision"]))
	}
	if got := fmt.Sprint(bySource["mcp_governed"]); got != "[vargate_web_search:allow vargate_send_email:require_approval]" {
		t.Errorf("step 5: governed records = %s", got)
	}
	if got := fmt.Sprint(bySource["mcp_observed"]); got != "[bash:observed]" {
		t.Errorf("step 5: observed records = %s", got)
	}

	// Step 6: the agent was told the action ID; approve it (no body).
	sub[guideActionID] = e.actionIDFromAgent(t, sess["anthropic_session_id"].(string))
	code, approved := e.call(t, curls[curlApprove], sub)
	if code != http.StatusOK || approved["id"] != sub[guideActionID] || approved["status"] != "executed" || approved["tool"] != "vargate_send_email" {
		t.Errorf("step 6: approve = %d %v", code, approved)
	}
	select {
	case m := <-e.up.Mail():
		if fmt.Sprint(m.To) != "[team@example.com]" {
			t.Errorf("step 6: the approved e-mail went to %v", m.To)
		}
	case <-time.After(10 * time.Second):
		t.Error("step 6: the approved e-mail was not sent")
	}
	waitSessionStatus(t, g, sessionID, "completed")

	// Reject: a second session of the same configuration.
	sessB := createSession()
	subB := map[string]string{guideSessionID: sessB["session_id"].(string)}
	for k, v := range sub {
		if _, set := subB[k]; !set {
			subB[k] = v
		}
	}
	if st := e.pollStatus(t, curls[curlStatus], subB); st["status"] != "awaiting_approval" {
		t.Fatalf("step 6: second session = %v", st)
	}
	subB[guideActionID] = e.actionIDFromAgent(t, sessB["anthropic_session_id"].(string))
	code, rejected := e.call(t, curls[curlReject], subB)
	if code != http.StatusOK || rejected["status"] != "rejected" || rejected["reason"] != "External email not permitted for this task" {
		t.Errorf("step 6: reject = %d %v", code, rejected)
	}
	waitSessionStatus(t, g, subB[guideSessionID], "completed")

	// Webhooks: the guide's settings request, with a receiver of ours.
	hooks := startWebhookSink(t)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32))
	sub[guideWebhookURL], sub[guideSecret] = hooks.URL, secret
	code, settings := e.call(t, curls[curlWebhook], sub)
	if code != http.StatusOK || settings["webhook_url"] != hooks.URL || settings["webhook_secret_set"] != true || settings["webhook_secret"] != nil {
		t.Errorf("step 6: webhook settings = %d %v", code, settings)
	}

	// Step 7: emergency interrupt. The first session has completed: it
	// ended, runs nothing, and cannot be interrupted (409). A third one,
	// still waiting for its approval, is; its webhook is signed with the
	// secret.
	if code, body := e.call(t, curls[curlInterrupt], sub); code != http.StatusConflict {
		t.Errorf("step 7: interrupt of the completed session = %d %v, want 409", code, body)
	}
	sessC := createSession()
	subC := map[string]string{guideSessionID: sessC["session_id"].(string)}
	for k, v := range sub {
		if _, set := subC[k]; !set {
			subC[k] = v
		}
	}
	if st := e.pollStatus(t, curls[curlStatus], subC); st["status"] != "awaiting_approval" {
		t.Fatalf("step 7: third session = %v", st)
	}
	code, intr := e.call(t, curls[curlInterrupt], subC)
	if code != http.StatusOK || intr["session_id"] != subC[guideSessionID] || intr["status"] != "interrupted" ||
		intr["reason"] != "Agent attempted to access production database credentials" {
		t.Fatalf("step 7: interrupt = %d %v\n%s", code, intr, g.Stderr)
	}
	msg := hooks.await(t, "session.interrupted")
	if err := webhook.Verify(secret, msg.Header, msg.Body, time.Now()); err != nil {
		t.Errorf("step 7: session.interrupted webhook: %v", err)
	}
	if code, st := e.call(t, curls[curlStatus], subC); code != http.StatusOK || st["status"] != "interrupted" {
		t.Errorf("step 7: status after the interrupt = %d %v", code, st)
	}

	// Step 8: the compliance export and the policy replay.
	code, comp := e.call(t, curls[curlCompliance], sub)
	if code != http.StatusOK {
		t.Fatalf("step 8: compliance = %d %v", code, comp)
	}
	cs, _ := comp["session"].(map[string]any)
	sum, _ := comp["summary"].(map[string]any)
	chain, _ := comp["chain_verification"].(map[string]any)
	approvals, _ := sum["approvals"].(map[string]any)
	if cs["id"] != sessionID || cs["system_prompt_hash"] != sess["system_prompt_hash"] {
		t.Errorf("step 8: compliance session = %v", cs)
	}
	if d, ok := cs["duration_seconds"].(float64); !ok || d <= 0 || cs["ended_at"] == nil {
		t.Errorf("step 8: duration_seconds = %v, ended_at %v", cs["duration_seconds"], cs["ended_at"])
	}
	// The session ended when it completed: its duration stops there, not
	// at the export (which came many requests later).
	created, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(cs["created_at"]))
	ended, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(cs["ended_at"]))
	if d, _ := cs["duration_seconds"].(float64); created.IsZero() || ended.IsZero() || math.Abs(d-ended.Sub(created).Seconds()) > 0.001 {
		t.Errorf("step 8: duration_seconds = %v, want ended_at %v - created_at %v", cs["duration_seconds"], cs["ended_at"], cs["created_at"])
	}
	if n, ok := sum["total_events"].(float64); !ok || n < 8 || sum["denial_rate"] != 0.0 || sum["governed_calls"] != 2.0 ||
		sum["observed_calls"] != 1.0 || sum["interrupts"] != 0.0 || approvals["requested"] != 1.0 || approvals["approved"] != 1.0 ||
		approvals["executed"] != 1.0 || approvals["pending"] != 0.0 {
		t.Errorf("step 8: compliance summary = %v", sum)
	}
	if chain["valid"] != true {
		t.Errorf("step 8: chain verification = %v", chain["valid"])
	}
	if tl, _ := comp["timeline"].([]any); len(tl) == 0 || comp["agcs_controls"] == nil {
		t.Errorf("step 8: no timeline or AGCS controls")
	}
	// The export verifies offline with `vargate verify` and the server's
	// public key; the same file with one record and its proof cut out
	// does not.
	checkExportOffline(t, e, comp)

	code, replay := e.call(t, curls[curlReplay], sub)
	policy, _ := replay["policy"].(map[string]any)
	if code != http.StatusOK || replay["session_id"] != sessionID || replay["total_replayed"] != 2.0 || replay["changed"] != 0.0 || policy["activated"] != false {
		t.Errorf("step 8: replay = %d %v", code, replay)
	}

	// Deployment: the health checks.
	if code, h := e.call(t, curls[curlHealth], sub); code != http.StatusOK || h["status"] != "ok" || h["database"] != "ok" {
		t.Errorf("health = %d %v", code, h)
	}
	if code, h := e.call(t, curls[curlMCPHealth], sub); code != http.StatusOK || h["status"] != "ok" {
		t.Errorf("MCP health = %d %v", code, h)
	}

	// Every other read the API offers, on the state the guide left, so
	// that their answers are checked against the OpenAPI document too.
	id := sub[guideActionID]
	code, deliveries := e.get(t, "/api/webhooks/deliveries")
	var deliveryID string
	if list, _ := deliveries["deliveries"].([]any); code == http.StatusOK && len(list) > 0 {
		deliveryID, _ = list[0].(map[string]any)["id"].(string)
	}
	code, audit := e.get(t, "/api/audit?limit=5")
	if code != http.StatusOK {
		t.Fatalf("audit = %d %v", code, audit)
	}
	for _, path := range []string{
		"/api/tenant", "/api/keys", "/api/credentials", "/api/credentials/" + cred["id"].(string),
		"/api/managed/agents", "/api/managed/agents/" + agentID, "/api/managed/agents/" + agentID + "?version=1",
		"/api/managed/sessions", "/api/managed/sessions/" + sessionID, "/api/managed/settings",
		"/api/approvals?status=all", "/api/approvals/" + id,
		"/api/audit/verify", "/api/audit/checkpoint", "/api/audit/proof/inclusion?seq=1", "/api/audit/proof/consistency?from=1",
		"/api/audit/bundle?session_id=" + sessionID, "/api/tools", "/api/policies", "/api/policies/active",
		"/api/dashboard/settings", "/api/webhooks/deliveries/" + deliveryID, "/openapi.json",
		"/api/managed/sessions/nope/status", // an error answer
	} {
		if code, body := e.get(t, path); code != http.StatusOK && !strings.Contains(path, "nope") {
			t.Errorf("GET %s = %d %v", path, code, body)
		}
	}
	t.Logf("answers of %d operations validated against openapi.yaml", e.spec.covered())
}

// TestGuidePythonExample runs the guide's Complete Python Example,
// unchanged but for the base URL (its key comes from VARGATE_API_KEY as
// the example reads it), with httpx if this Python has it, else with the
// stand-in in testdata/guide/standin.
func TestGuidePythonExample(t *testing.T) {
	python, standin := findPython(t)
	e := startGuideEnv(t, map[string]string{"ANTHROPIC_API_KEY": demoAnthropicKey})
	src, err := os.ReadFile("testdata/guide/example.py")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(guideBaseURL)) {
		t.Fatalf("example.py does not use %s", guideBaseURL)
	}
	script := bytes.ReplaceAll(src, []byte(guideBaseURL), []byte(e.g.URL+"/api"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-")
	cmd.Stdin = bytes.NewReader(script)
	cmd.Env = append(os.Environ(), "VARGATE_API_KEY="+e.g.Key, "PYTHONUNBUFFERED=1")
	if standin {
		dir, err := filepath.Abs("testdata/guide/standin")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "PYTHONPATH="+dir)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python example: %v\n%s\n%s", err, out, e.g.Stderr)
	}
	for _, re := range []string{
		`(?m)^Agent: agent-[0-9a-f]{12}$`,
		`(?m)^Session: vs-[0-9a-f]{16}$`,
		`(?m)^  Status: awaiting_approval \| Governed: 2 \| Observed: 1$`,
		`(?m)^Compliance: \d+ events, 0(\.0)? denial rate$`,
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("the example's output does not match %s:\n%s", re, out)
		}
	}
}

// findPython returns a Python 3 that can import httpx, or else one that
// will use the stand-in (standin true). Without Python the test is skipped,
// except in CI, which installs it (.ci/run).
func findPython(t *testing.T) (path string, standin bool) {
	t.Helper()
	var found []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		found = append(found, p)
		if exec.Command(p, "-c", "import httpx").Run() == nil {
			return p, false
		}
	}
	if len(found) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is not installed (CI installs it in .ci/run)")
		}
		t.Skip("python3 is not installed")
	}
	t.Logf("httpx is not installed for %s: using the stand-in in testdata/guide/standin", found[0])
	return found[0], true
}

// TestGuideTestdataIsVerbatim checks that testdata/guide holds the guide's
// own text, when the guide is at hand (shared/ beside the repository).
func TestGuideTestdataIsVerbatim(t *testing.T) {
	guide, err := os.ReadFile("../../../shared/seed/managed-agents-setup-guide.txt")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("the guide is not beside the repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/guide/example.py")
	if err != nil {
		t.Fatal(err)
	}
	curls, err := os.ReadFile("testdata/guide/curl.txt")
	if err != nil {
		t.Fatal(err)
	}
	parts := append([]string{string(bytes.TrimSpace(example))}, strings.Split(strings.TrimSpace(string(curls)), "\n\n")...)
	for _, p := range parts {
		if !bytes.Contains(guide, []byte(p)) {
			t.Errorf("not in the guide verbatim:\n%s", p)
		}
	}
}

// apiSpec validates answers against the OpenAPI document a gateway serves.
type apiSpec struct {
	doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]specResponse `json:"responses"`
		} `json:"components"`
	}
	compiler  *jsonschema.Compiler
	templates []pathTemplate

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
	seen    map[string]bool
}

// specResponse is an OpenAPI response object, or a reference to one.
type specResponse struct {
	Ref     string                     `json:"$ref"`
	Content map[string]json.RawMessage `json:"content"`
}

type pathTemplate struct {
	path string
	re   *regexp.Regexp
}

const specURL = "https://vargate.test/openapi.json"

func loadAPISpec(t *testing.T, base string) *apiSpec {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d %v", resp.StatusCode, err)
	}
	s := &apiSpec{compiler: jsonschema.NewCompiler(), schemas: map[string]*jsonschema.Schema{}, seen: map[string]bool{}}
	if err := json.Unmarshal(raw, &s.doc); err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	s.compiler.DefaultDraft(jsonschema.Draft2020)
	s.compiler.AssertFormat()
	if err := s.compiler.AddResource(specURL, inst); err != nil {
		t.Fatal(err)
	}
	for p := range s.doc.Paths {
		re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`) + "$"
		s.templates = append(s.templates, pathTemplate{p, regexp.MustCompile(re)})
	}
	// Literal paths win over templates (/policies/active, not /policies/{version}).
	sort.Slice(s.templates, func(i, j int) bool {
		return strings.Count(s.templates[i].path, "{") < strings.Count(s.templates[j].path, "{")
	})
	return s
}

// check validates one answer: its operation must be described, and a JSON
// body must match the schema of its status (or the default answer).
func (s *apiSpec) check(method, path string, status int, contentType string, body []byte) error {
	path = strings.TrimPrefix(path, "/api")
	var tmpl string
	for _, pt := range s.templates {
		if pt.re.MatchString(path) {
			if _, ok := s.doc.Paths[pt.path][strings.ToLower(method)]; ok {
				tmpl = pt.path
				break
			}
		}
	}
	if tmpl == "" {
		return fmt.Errorf("no operation %s %s", method, path)
	}
	var op struct {
		Responses map[string]specResponse `json:"responses"`
	}
	if err := json.Unmarshal(s.doc.Paths[tmpl][strings.ToLower(method)], &op); err != nil {
		return err
	}
	code := fmt.Sprint(status)
	resp, ok := op.Responses[code]
	if !ok {
		code = "default"
		if resp, ok = op.Responses[code]; !ok {
			return fmt.Errorf("status %d is not described", status)
		}
	}
	ptr := "#/paths/" + escapePointer(tmpl) + "/" + strings.ToLower(method) + "/responses/" + code
	if name, isRef := strings.CutPrefix(resp.Ref, "#/components/responses/"); isRef {
		ptr, resp = resp.Ref, s.doc.Components.Responses[name]
	}
	mediaType, _, _ := strings.Cut(contentType, ";")
	if len(resp.Content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("status %d has no body in the document", status)
		}
		return nil
	}
	if _, ok := resp.Content[mediaType]; !ok {
		return fmt.Errorf("content type %q is not described for status %d", contentType, status)
	}
	if mediaType != "application/json" {
		return nil
	}
	ptr += "/content/application~1json/schema"
	s.mu.Lock()
	sch, ok := s.schemas[ptr]
	if !ok {
		var err error
		if sch, err = s.compiler.Compile(specURL + ptr); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("compile %s: %w", ptr, err)
		}
		s.schemas[ptr] = sch
	}
	s.seen[method+" "+tmpl] = true
	s.mu.Unlock()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return sch.Validate(inst)
}

func (s *apiSpec) covered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// checkExportOffline writes the compliance export to a file and runs
// `vargate verify` on it, then on a copy missing one record and its proof.
func checkExportOffline(t *testing.T, e *guideEnv, comp map[string]any) {
	t.Helper()
	code, cp := e.get(t, "/api/audit/checkpoint")
	key, _ := cp["public_key"].(string)
	if code != http.StatusOK || key == "" {
		t.Fatalf("step 8: checkpoint = %d %v", code, cp)
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if out, err := runCmd(t, dir, "verify", write("export.json", comp), "--public-key", key); err != nil {
		t.Errorf("step 8: vargate verify of the export: %v\n%s", err, out)
	}
	raw, _ := json.Marshal(comp)
	var cut map[string]any
	if err := json.Unmarshal(raw, &cut); err != nil {
		t.Fatal(err)
	}
	cv, _ := cut["chain_verification"].(map[string]any)
	recs, _ := cv["records"].([]any)
	proofs, _ := cv["proofs"].([]any)
	if len(recs) < 3 || len(proofs) != len(recs) {
		t.Fatalf("step 8: export holds %d records and %d proofs", len(recs), len(proofs))
	}
	cv["records"] = append(append([]any{}, recs[:1]...), recs[2:]...)
	cv["proofs"] = append(append([]any{}, proofs[:1]...), proofs[2:]...)
	if out, err := runCmd(t, dir, "verify", write("cut.json", cut), "--public-key", key); !errors.Is(err, errNotValid) {
		t.Errorf("step 8: vargate verify of an export missing a record: %v, want not valid\n%s", err, out)
	}
}
