package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/testwait"
)

// TestInterruptAPI interrupts a working session through the API, with
// the real session lifecycle and the event consumer over the simulator.
func TestInterruptAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Scenarios: []sim.Scenario{
		{Name: "slow", Steps: []sim.Step{
			{Type: sim.StepTool, Name: "bash", Input: map[string]any{"command": "ls"}, Result: "README.md"},
			{Type: sim.StepWait, Duration: sim.Duration(1000 * time.Second)}, // 10s
			{Type: sim.StepMessage, Text: "Done."},
			{Type: sim.StepEndTurn},
		}},
	}})
	var a httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "POST", "/managed/agents", `{"name":"Builder","allowed_tools":[]}`, &a).status; code != 201 {
		t.Fatalf("create agent = %d", code)
	}
	var sess httpapi.SessionResponse
	if code := e.do(t, "acme/admin", "POST", "/managed/sessions", `{"agent_id":"`+a.ID+`","user_message":"scenario:slow build it"}`, &sess).status; code != 201 {
		t.Fatalf("create session = %d", code)
	}
	path := "/managed/sessions/" + sess.SessionID + "/interrupt"
	// Wait until the agent is at work (its first tool call is observed).
	testwait.For(t, 20*time.Second, "the first tool call to be observed", func() bool {
		var st httpapi.SessionStatusResponse
		if code := e.do(t, "acme/auditor", "GET", "/managed/sessions/"+sess.SessionID+"/status", "", &st).status; code != 200 {
			t.Fatalf("status = %d", code)
		}
		return st.TotalObservedCalls == 1
	})

	tests := []struct {
		who, body string
		want      int
	}{
		{"acme/auditor", `{"reason":"stop"}`, http.StatusForbidden},
		{"globex/admin", `{"reason":"stop"}`, http.StatusNotFound},
		{"acme/approver", `{}`, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		if code := e.do(t, tt.who, "POST", path, tt.body, nil).status; code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.who, tt.body, code, tt.want)
		}
	}
	var res httpapi.InterruptResponse
	reason := "Agent attempted to access production database credentials"
	if code := e.do(t, "acme/approver", "POST", path, `{"reason":"`+reason+`"}`, &res).status; code != 200 {
		t.Fatalf("interrupt = %d %+v", code, res)
	}
	if res.SessionID != sess.SessionID || res.Status != "interrupted" || res.Reason != reason || !res.Confirmed ||
		res.InterruptedBy == "" || res.EndedAt.IsZero() {
		t.Errorf("interrupt response %+v", res)
	}
	if code := e.do(t, "acme/admin", "POST", path, `{"reason":"again"}`, nil).status; code != http.StatusConflict {
		t.Errorf("second interrupt = %d, want 409", code)
	}
	var got httpapi.SessionResponse
	if code := e.do(t, "acme/auditor", "GET", "/managed/sessions/"+sess.SessionID, "", &got).status; code != 200 || got.Status != "interrupted" {
		t.Errorf("session after interrupt: %d %+v", code, got)
	}
}
