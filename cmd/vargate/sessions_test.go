package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/sim"
)

// TestServeManagedSession points a real `vargate serve` at the simulator
// with one variable (ANTHROPIC_BASE_URL) and runs the guide's steps 2, 4
// and 5 over HTTP: create a config, create a session, poll its status
// until the loop ends.
func TestServeManagedSession(t *testing.T) {
	s, err := sim.New(sim.Options{APIKey: "sk-ant-serve", StepDelay: time.Millisecond, Scenarios: []sim.Scenario{
		{Name: "answer", Steps: []sim.Step{{Type: sim.StepMessage, Text: "Here is the summary."}, {Type: sim.StepEndTurn}}},
	}, DefaultScenario: "answer"})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(s)
	t.Cleanup(func() {
		_ = s.Close()
		simSrv.Close()
	})
	g := startServe(t, map[string]string{"ANTHROPIC_BASE_URL": simSrv.URL, "ANTHROPIC_API_KEY": "sk-ant-serve"})

	code, agent := g.do(t, "POST", "/api/managed/agents", g.Key, `{"name":"Research Assistant","allowed_tools":["vargate_web_search"],"max_session_hours":2.0,"max_daily_sessions":10}`)
	if code != 201 {
		t.Fatalf("create agent = %d %v", code, agent)
	}
	code, sess := g.do(t, "POST", "/api/managed/sessions", g.Key, `{"agent_id":"`+agent["id"].(string)+`","user_message":"Find the top 3 AI governance frameworks."}`)
	if code != 201 {
		t.Fatalf("create session = %d %v\n%s", code, sess, g.Stderr)
	}
	id := sess["session_id"].(string)
	if !strings.HasPrefix(id, "vs-") || !strings.HasPrefix(sess["anthropic_session_id"].(string), "sesn_") ||
		!strings.HasSuffix(sess["mcp_server_url"].(string), "/api/mcp/server") {
		t.Errorf("session = %v", sess)
	}
	deadline := time.Now().Add(20 * time.Second)
	var status map[string]any
	for {
		code, status = g.do(t, "GET", "/api/managed/sessions/"+id+"/status", g.Key, "")
		if code != 200 {
			t.Fatalf("status = %d %v", code, status)
		}
		if status["status"] != "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still active: %v", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status["status"] != "completed" || status["system_prompt_hash"] != sess["system_prompt_hash"] {
		t.Errorf("final status = %v", status)
	}
	info, err := s.Session(sess["anthropic_session_id"].(string))
	if err != nil || len(info.VaultIDs) != 1 {
		t.Errorf("upstream session = %+v, %v", info, err)
	}
}
