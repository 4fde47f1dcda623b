package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

const interruptSimKey = "sk-ant-interrupt-test"

type interruptKeys struct{}

func (interruptKeys) AnthropicKey(context.Context, string, vault.Purpose) (vault.Secret, error) {
	return vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", interruptSimKey), nil
}

// TestInterruptAPI interrupts a working session through the API, with
// the real session lifecycle and the event consumer over the simulator.
func TestInterruptAPI(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t, sqlstore.SQLite)
	as := auth.NewService(sqlstore.NewAuthStore(db))
	keys := map[string]string{}
	for _, name := range []string{"acme", "globex"} {
		tn, err := as.CreateTenant(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleApprover, vargate.RoleAuditor} {
			_, secret, err := as.CreateKey(ctx, auth.KeyRequest{TenantID: tn.ID, Role: role})
			if err != nil {
				t.Fatal(err)
			}
			keys[name+"/"+string(role)] = secret
		}
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(sqlstore.NewAuditStore(db), signer)
	log.CheckpointInterval = -1
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	s, err := sim.New(sim.Options{APIKey: interruptSimKey, StepDelay: time.Millisecond, TimeScale: 0.01, Scenarios: []sim.Scenario{
		{Name: "slow", Steps: []sim.Step{
			{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "ls"}, Result: "README.md"},
			{Type: sim.StepWait, Duration: sim.Duration(1000 * time.Second)}, // 10s
			{Type: sim.StepMessage, Text: "Done."},
			{Type: sim.StepEndTurn},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(s)
	t.Cleanup(func() {
		_ = s.Close()
		simSrv.Close()
	})
	agents := agent.New(sqlstore.NewAgentStore(db), log)
	upstream := &session.Upstream{BaseURL: simSrv.URL, Keys: interruptKeys{}}
	sessions := session.New(sqlstore.NewSessionStore(db), agents, upstream, log, "https://gateway.example/api/mcp/server")
	obs := observe.New(sqlstore.NewObserveStore(db), observe.SessionUpstream{Upstream: upstream}, log, nil)
	obs.Lifecycle, obs.Configs = sessions, agents
	// Generous: on a loaded CI machine under -race the stream can take
	// seconds to show the session idle; confirmation is still required.
	obs.InterruptWait = 15 * time.Second
	if err := obs.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = obs.Close() })
	sessions.Observer = obs
	t.Cleanup(func() { _ = sessions.Close() })
	as.Sessions = sessions
	api := &httpapi.Server{Auth: as, Agents: agents, Sessions: sessions, Observe: obs, Ping: db.Ping}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)

	do := func(who, method, path, body string, out any) int {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", keys[who])
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
			}
		}
		return resp.StatusCode
	}

	var a httpapi.AgentResponse
	if code := do("acme/admin", "POST", "/managed/agents", `{"name":"Builder","allowed_tools":[]}`, &a); code != 201 {
		t.Fatalf("create agent = %d", code)
	}
	var sess httpapi.SessionResponse
	if code := do("acme/admin", "POST", "/managed/sessions", `{"agent_id":"`+a.ID+`","user_message":"scenario:slow build it"}`, &sess); code != 201 {
		t.Fatalf("create session = %d", code)
	}
	path := "/managed/sessions/" + sess.SessionID + "/interrupt"
	// Wait until the agent is at work (its first tool call is observed).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st httpapi.SessionStatusResponse
		if code := do("acme/auditor", "GET", "/managed/sessions/"+sess.SessionID+"/status", "", &st); code != 200 {
			t.Fatalf("status = %d", code)
		}
		if st.TotalObservedCalls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first tool call was not observed: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}

	tests := []struct {
		who, body string
		want      int
	}{
		{"acme/auditor", `{"reason":"stop"}`, http.StatusForbidden},
		{"globex/admin", `{"reason":"stop"}`, http.StatusNotFound},
		{"acme/approver", `{}`, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		if code := do(tt.who, "POST", path, tt.body, nil); code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.who, tt.body, code, tt.want)
		}
	}
	var res httpapi.InterruptResponse
	reason := "Agent attempted to access production database credentials"
	if code := do("acme/approver", "POST", path, `{"reason":"`+reason+`"}`, &res); code != 200 {
		t.Fatalf("interrupt = %d %+v", code, res)
	}
	if res.SessionID != sess.SessionID || res.Status != "interrupted" || res.Reason != reason || !res.Confirmed ||
		res.InterruptedBy == "" || res.EndedAt.IsZero() {
		t.Errorf("interrupt response %+v", res)
	}
	if code := do("acme/admin", "POST", path, `{"reason":"again"}`, nil); code != http.StatusConflict {
		t.Errorf("second interrupt = %d, want 409", code)
	}
	var got httpapi.SessionResponse
	if code := do("acme/auditor", "GET", "/managed/sessions/"+sess.SessionID, "", &got); code != 200 || got.Status != "interrupted" {
		t.Errorf("session after interrupt: %d %+v", code, got)
	}
}
