package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sim"
	"github.com/vargate/vargate/internal/testwait"
)

// quickScenario answers at once and ends the turn.
var quickScenario = []sim.Scenario{
	{Name: "quick", Steps: []sim.Step{{Type: sim.StepMessage, Text: "Done."}, {Type: sim.StepEndTurn}}},
}

type errBody struct {
	Error struct {
		Code, Message, Field string
	} `json:"error"`
}

const guideAgent = `{
  "name": "Research Assistant",
  "anthropic_model": "claude-sonnet-4-6",
  "system_prompt": "You are a research assistant that helps analysts find and summarize information.",
  "allowed_tools": ["vargate_web_search", "vargate_send_email", "vargate_read_database"],
  "require_human_approval": ["vargate_send_email"],
  "max_session_hours": 4.0,
  "max_daily_sessions": 20,
  "max_delegation_depth": 1,
  "governance_profile": {"risk_level": "standard", "pii_detection": true}
}`

func TestAgentsAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Scenarios: quickScenario})
	var a httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", guideAgent, &a).status; code != 201 {
		t.Fatalf("create = %d", code)
	}
	if !strings.HasPrefix(a.ID, "agent-") || len(a.ID) != 18 || a.Version != 1 || a.MaxSessionHours != 4 ||
		a.GovernanceProfile.NetworkAccess.Type != "limited" || a.ParentAgentID != nil || a.GovernedBuiltinTools == nil {
		t.Errorf("created = %+v", a)
	}

	// Validation names the field; unknown fields are refused.
	for _, tt := range []struct{ body, field string }{
		{`{"name":"x","max_session_hours":25}`, "max_session_hours"},
		{`{"name":"x","max_session_hours":0.05}`, "max_session_hours"},
		{`{"name":"x","max_daily_sessions":0}`, "max_daily_sessions"},
		{`{"name":"x","max_delegation_depth":6}`, "max_delegation_depth"},
		{`{"name":"x","max_delegation_depth":"2"}`, "max_delegation_depth"},
		{`{"name":"x","colour":"blue"}`, "colour"},
		{`{"name":"x","governance_profile":{"risk_level":"yolo"}}`, "governance_profile.risk_level"},
		{`{"name":"x","governance_profile":{"network_access":{"allowed_domains":["https://x.com"]}}}`, "governance_profile.network_access.allowed_domains[0]"},
		{`{"name":"x","governance_profile":{"risky":true}}`, "risky"},
		{`{"name":"x","parent_agent_id":"agent-ffffffffffff"}`, "parent_agent_id"},
		{`{"name":"x","parent_agent_id":7}`, "parent_agent_id"},
		{`{"name":"x","governed_builtin_tools":["shell"]}`, "governed_builtin_tools[0]"},
		{`{"anthropic_model":"claude-sonnet-4-6"}`, "name"},
	} {
		var eb errBody
		if code := e.do(t, "acme/admin", "POST", "/managed/agents", tt.body, &eb).status; code != 422 || eb.Error.Field != tt.field {
			t.Errorf("%s: %d %+v, want 422 naming %s", tt.body, code, eb.Error, tt.field)
		}
	}

	// Roles: humans read, only admins write, agents neither.
	if code := e.do(t, "acme/auditor", "GET", "/managed/agents/"+a.ID, "", nil).status; code != 200 {
		t.Errorf("auditor read = %d", code)
	}
	for _, who := range []string{"acme/auditor", "acme/agent"} {
		if code := e.do(t, who, "POST", "/managed/agents", `{"name":"x"}`, nil).status; code != 403 {
			t.Errorf("%s create = %d, want 403", who, code)
		}
	}
	if code := e.do(t, "acme/agent", "GET", "/managed/agents", "", nil).status; code != 403 {
		t.Errorf("agent key list = %d, want 403", code)
	}
	if code := e.do(t, "globex/admin", "GET", "/managed/agents/"+a.ID, "", nil).status; code != 404 {
		t.Errorf("other tenant read = %d, want 404", code)
	}

	// PATCH makes version 2; version 1 stays readable.
	var a2 httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "PATCH", "/managed/agents/"+a.ID, `{"max_daily_sessions":5,"governance_profile":{"network_access":{"type":"unrestricted"}}}`, &a2).status; code != 200 {
		t.Fatalf("patch = %d", code)
	}
	if a2.Version != 2 || a2.MaxDailySessions != 5 || a2.Name != "Research Assistant" || a2.GovernanceProfile.NetworkAccess.Type != "unrestricted" {
		t.Errorf("version 2 = %+v", a2)
	}
	var v1 httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "GET", "/managed/agents/"+a.ID+"?version=1", "", &v1).status; code != 200 || v1.MaxDailySessions != 20 {
		t.Errorf("version 1 = %d %+v", code, v1)
	}

	// A child, then clearing its parent with null.
	var child httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "POST", "/managed/agents", `{"name":"child","parent_agent_id":"`+a.ID+`"}`, &child).status; code != 201 || child.ParentAgentID == nil {
		t.Fatalf("child = %d %+v", code, child)
	}
	if code := e.do(t, "acme/admin", "PATCH", "/managed/agents/"+child.ID, `{"parent_agent_id":null}`, &child).status; code != 200 || child.ParentAgentID != nil {
		t.Errorf("cleared parent = %d %+v", code, child)
	}

	// Pagination.
	var page struct {
		Agents     []httpapi.AgentResponse `json:"agents"`
		NextCursor *string                 `json:"next_cursor"`
	}
	e.do(t, "acme/auditor", "GET", "/managed/agents?limit=1", "", &page)
	if len(page.Agents) != 1 || page.NextCursor == nil {
		t.Fatalf("first page = %+v", page)
	}
	first := page.Agents[0].ID
	e.do(t, "acme/auditor", "GET", "/managed/agents?limit=1&cursor="+*page.NextCursor, "", &page)
	if len(page.Agents) != 1 || page.Agents[0].ID == first {
		t.Errorf("second page = %+v", page)
	}

	// DELETE archives.
	var arch httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "DELETE", "/managed/agents/"+a.ID, "", &arch).status; code != 200 || arch.ArchivedAt == nil {
		t.Errorf("archive = %d %+v", code, arch)
	}
	e.do(t, "acme/auditor", "GET", "/managed/agents", "", &page)
	for _, x := range page.Agents {
		if x.ID == a.ID {
			t.Error("archived agent listed")
		}
	}
}

func TestSessionsAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Scenarios: quickScenario})
	var a httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "POST", "/managed/agents", guideAgent, &a).status; code != 201 {
		t.Fatalf("create agent = %d", code)
	}
	var s map[string]any
	code := e.do(t, "acme/admin", "POST", "/api/managed/sessions",
		`{"agent_id":"`+a.ID+`","user_message":"scenario:quick Research the latest trends in enterprise AI governance."}`, &s).status
	if code != 201 {
		t.Fatalf("create session = %d %v", code, s)
	}
	// The guide's response fields.
	for _, f := range []string{"session_id", "anthropic_session_id", "tenant_id", "agent_id", "status", "system_prompt_hash", "governance", "mcp_server_url", "created_at"} {
		if _, ok := s[f]; !ok {
			t.Errorf("response lacks %s: %v", f, s)
		}
	}
	id, _ := s["session_id"].(string)
	if !strings.HasPrefix(id, "vs-") || s["governance"] != "active" || !strings.HasPrefix(s["system_prompt_hash"].(string), "sha256:") ||
		s["mcp_server_url"] != "https://gateway.example/api/mcp/server" || !strings.HasPrefix(s["anthropic_session_id"].(string), "sesn_") {
		t.Errorf("created = %v", s)
	}

	// The guide's polling loop terminates.
	var st httpapi.SessionStatusResponse
	testwait.For(t, 20*time.Second, "the session to leave active", func() bool {
		if code := e.do(t, "acme/auditor", "GET", "/managed/sessions/"+id+"/status", "", &st).status; code != 200 {
			t.Fatalf("status = %d", code)
		}
		return st.Status != "active"
	})
	if st.Status != "completed" || st.SystemPromptHash != s["system_prompt_hash"] || st.TotalGovernedCalls != 0 || st.TotalPending != 0 {
		t.Errorf("status = %+v", st)
	}

	var trail struct {
		Events []httpapi.AuditEvent `json:"events"`
	}
	// The lifecycle record is appended just after the status changes, so
	// give it a moment to land.
	testwait.For(t, 20*time.Second, "session.created and session.completed in the audit trail", func() bool {
		code := e.do(t, "acme/auditor", "GET", "/managed/sessions/"+id+"/audit?limit=50", "", &trail).status
		return code == 200 && len(trail.Events) >= 2
	})
	if trail.Events[0].Decision != "session.created" || trail.Events[0].Source != "control_plane" {
		t.Errorf("first event = %+v", trail.Events[0])
	}
	for i, ev := range trail.Events {
		if ev.Source == "" || (i > 0 && ev.Seq <= trail.Events[i-1].Seq) {
			t.Errorf("event %d = %+v", i, ev)
		}
	}

	// A follow-up message.
	var after map[string]any
	// The simulated agent may answer before the response is written.
	if code := e.do(t, "acme/admin", "POST", "/managed/sessions/"+id+"/messages", `{"message":"And in the EU?"}`, &after).status; code != 202 ||
		(after["status"] != "active" && after["status"] != "completed") {
		t.Errorf("message = %d %v", code, after)
	}
	if code := e.do(t, "acme/auditor", "POST", "/managed/sessions/"+id+"/messages", `{"message":"x"}`, nil).status; code != 403 {
		t.Errorf("auditor message = %d", code)
	}

	// Lists and isolation.
	var list struct {
		Sessions []httpapi.SessionResponse `json:"sessions"`
		Count    int                       `json:"count"`
	}
	e.do(t, "acme/auditor", "GET", "/managed/sessions?agent_id="+a.ID, "", &list)
	if list.Count != 1 || list.Sessions[0].SessionID != id {
		t.Errorf("list = %+v", list)
	}
	if code := e.do(t, "acme/auditor", "GET", "/managed/sessions?status=bogus", "", nil).status; code != 422 {
		t.Errorf("bad status filter = %d", code)
	}
	if code := e.do(t, "globex/admin", "GET", "/managed/sessions/"+id, "", nil).status; code != 404 {
		t.Errorf("other tenant = %d", code)
	}
	var eb errBody
	if code := e.do(t, "acme/admin", "POST", "/managed/sessions", `{"agent_id":"`+a.ID+`"}`, &eb).status; code != 422 || eb.Error.Field != "user_message" {
		t.Errorf("no message = %d %+v", code, eb)
	}

	// Settings: a tenant template with an unknown placeholder is refused.
	if code := e.do(t, "acme/admin", "PUT", "/managed/settings", `{"governance_prompt_template":"Obey {boss}."}`, &eb).status; code != 422 || eb.Error.Field != "governance_prompt_template" {
		t.Errorf("bad template = %d %+v", code, eb)
	}
	var set httpapi.SessionSettingsResponse
	if code := e.do(t, "acme/admin", "PUT", "/managed/settings", `{"governance_prompt_template":"Governed by Vargate ({session_id}).","max_concurrent_sessions":5}`, &set).status; code != 200 || set.MaxConcurrentSessions == nil {
		t.Errorf("settings = %d %+v", code, set)
	}
	var got httpapi.SessionSettingsResponse
	if code := e.do(t, "acme/auditor", "GET", "/managed/settings", "", &got).status; code != 200 || got.GovernancePromptTemplate == nil ||
		*got.MaxConcurrentSessions != 5 || !strings.Contains(got.DefaultGovernanceTemplate, "{session_id}") {
		t.Errorf("settings read back = %d %+v", code, got)
	}
	var s2 httpapi.SessionResponse
	if code := e.do(t, "acme/admin", "POST", "/managed/sessions", `{"agent_id":"`+a.ID+`","user_message":"scenario:quick again"}`, &s2).status; code != 201 {
		t.Fatalf("second session = %d %v", code, s2)
	}
	e.do(t, "acme/auditor", "GET", "/managed/sessions/"+s2.SessionID+"/audit?limit=1", "", &trail)
	var created struct {
		Prompt string `json:"system_prompt"`
	}
	if len(trail.Events) != 1 || json.Unmarshal(trail.Events[0].Detail, &created) != nil ||
		!strings.HasSuffix(created.Prompt, "Governed by Vargate ("+s2.SessionID+").") {
		t.Errorf("prompt with the tenant's template = %q", created.Prompt)
	}
}
