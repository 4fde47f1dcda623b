package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/testwait"
)

// An action queued for a human dies with what it needed: interrupting its
// session, archiving its agent, removing the tool from allowed_tools or
// revoking the key that queued it cancels it (with an approval record),
// and approving it afterwards is a 409 that says why. Nothing is sent.
func TestServeApprovalsDieWithTheirSession(t *testing.T) {
	g, _ := startSimGateway(t, sim.Scenario{Name: "mail", Steps: []sim.Step{
		{Type: sim.StepMCPTool, Name: "vargate_send_email", Input: map[string]any{"to": "ada@example.com", "subject": "Hi", "body": "Hello"}},
		{Type: sim.StepEndTurn},
	}})
	newAgent := func(t *testing.T) string {
		t.Helper()
		code, agent := g.do(t, "POST", "/api/managed/agents", g.Key,
			`{"name":"Mailer","allowed_tools":["vargate_web_search","vargate_send_email"],"require_human_approval":["vargate_send_*"]}`)
		if code != 201 {
			t.Fatalf("create agent = %d %v", code, agent)
		}
		return agent["id"].(string)
	}
	// queued starts a session of the agent and waits for its e-mail to
	// be queued; it returns the session and the action.
	queued := func(t *testing.T, agentID string) (string, string) {
		t.Helper()
		code, sess := g.do(t, "POST", "/api/managed/sessions", g.Key, `{"agent_id":"`+agentID+`","user_message":"Write to Ada."}`)
		if code != 201 {
			t.Fatalf("create session = %d %v\n%s", code, sess, g.Stderr)
		}
		id := sess["session_id"].(string)
		var as []any
		testwait.For(t, 30*time.Second, "an action to be queued", func() bool {
			_, list := g.do(t, "GET", "/api/approvals?session_id="+id, g.Key, "")
			as, _ = list["approvals"].([]any)
			return len(as) == 1
		})
		return id, as[0].(map[string]any)["id"].(string)
	}
	cancelled := func(t *testing.T, actionID, because string) {
		t.Helper()
		_, a := g.do(t, "GET", "/api/approvals/"+actionID, g.Key, "")
		failure, _ := a["failure"].(map[string]any)
		if a["status"] != "cancelled" || failure["code"] != "cancelled" || !strings.Contains(failure["message"].(string), because) {
			t.Errorf("action = %v, want cancelled because %q", a, because)
		}
		code, out := g.do(t, "POST", "/api/approve/"+actionID, g.Key, `{}`)
		if code != 409 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "cancelled") {
			t.Errorf("approve = %d %v, want 409 saying it was cancelled", code, out)
		}
		_, recs := g.do(t, "GET", "/api/audit?source=approval&action_id="+actionID, g.Key, "")
		rs, _ := recs["records"].([]any)
		if len(rs) == 0 || rs[0].(map[string]any)["decision"] != "cancelled" {
			t.Errorf("approval records = %v, want the cancellation last", recs)
		}
	}

	t.Run("interrupt", func(t *testing.T) {
		sess, action := queued(t, newAgent(t))
		if code, out := g.do(t, "POST", "/api/managed/sessions/"+sess+"/interrupt", g.Key, `{"reason":"stop everything"}`); code != 200 {
			t.Fatalf("interrupt = %d %v", code, out)
		}
		cancelled(t, action, "stop everything")
	})
	t.Run("archive", func(t *testing.T) {
		agentID := newAgent(t)
		_, action := queued(t, agentID)
		if code, out := g.do(t, "DELETE", "/api/managed/agents/"+agentID, g.Key, ""); code != 200 {
			t.Fatalf("archive = %d %v", code, out)
		}
		cancelled(t, action, "archived")
	})
	t.Run("allowed_tools narrowed", func(t *testing.T) {
		agentID := newAgent(t)
		_, action := queued(t, agentID)
		// A pattern that still covers the tool keeps the action.
		if code, out := g.do(t, "PATCH", "/api/managed/agents/"+agentID, g.Key, `{"allowed_tools":["vargate_web_search","vargate_send_*"]}`); code != 200 {
			t.Fatalf("update = %d %v", code, out)
		}
		if _, a := g.do(t, "GET", "/api/approvals/"+action, g.Key, ""); a["status"] != "pending" {
			t.Fatalf("still allowed by a pattern: %v", a["status"])
		}
		if code, out := g.do(t, "PATCH", "/api/managed/agents/"+agentID, g.Key, `{"allowed_tools":["vargate_web_search"]}`); code != 200 {
			t.Fatalf("update = %d %v", code, out)
		}
		cancelled(t, action, "no longer allows this tool")
	})
	t.Run("key revoked", func(t *testing.T) {
		agentID := newAgent(t)
		code, key := g.do(t, "POST", "/api/keys", g.Key, `{"role":"agent","agent_id":"`+agentID+`"}`)
		if code != 201 {
			t.Fatalf("create key = %d %v", code, key)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, err := mcpConnect(ctx, g.URL+"/api/mcp/server", key["api_key"].(string))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "vargate_send_email",
			Arguments: map[string]any{"to": "ada@example.com", "subject": "Hi", "body": "Hello"}})
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Status   string `json:"status"`
			ActionID string `json:"action_id"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil || out.Status != "pending_approval" {
			t.Fatalf("call = %s (%v), want pending_approval", b, err)
		}
		if code, body := g.do(t, "DELETE", "/api/keys/"+key["id"].(string), g.Key, ""); code != 200 {
			t.Fatalf("revoke = %d %v", code, body)
		}
		cancelled(t, out.ActionID, "revoked")
	})
}
