package httpapi_test

import (
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/httpapi"
)

// allowed_tools names only tools the tenant has (built-in or its own);
// anything else is refused naming the entry. A second configuration with
// the same name is allowed, with a warning.
func TestAgentAllowedToolsMustExist(t *testing.T) {
	e := newAPI(t, apiOptions{Agents: true, Tools: true})

	for _, tt := range []struct{ tools, field, says string }{
		{`["vargate_launch_missiles"]`, "allowed_tools[0]", `unknown tool "vargate_launch_missiles"`},
		{`["vargate_web_search","crm_lookup"]`, "allowed_tools[1]", `unknown tool "crm_lookup"`},
		{`["bash"]`, "allowed_tools[0]", "governed_builtin_tools"},
		{`["vargate_web_search","vargate_web_search"]`, "allowed_tools[1]", "listed twice"},
	} {
		var eb errBody
		if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", `{"name":"x","allowed_tools":`+tt.tools+`}`, &eb).status; code != 422 ||
			eb.Error.Field != tt.field || !strings.Contains(eb.Error.Message, tt.says) {
			t.Errorf("allowed_tools %s: %d %+v, want 422 naming %s and saying %q", tt.tools, code, eb.Error, tt.field, tt.says)
		}
	}

	// A tenant tool, once declared, may be allowed; only in its tenant.
	def := `{"name":"crm_lookup","description":"Look up a contact","input_schema":{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]},` +
		`"request":{"url":"https://crm.example.com/contacts/{id}"},"read_only":true}`
	if code := e.do(t, "acme/admin", "POST", "/api/tools", def, nil).status; code != 201 {
		t.Fatalf("declare tool = %d", code)
	}
	var a httpapi.AgentResponse
	body := `{"name":"Research Assistant","allowed_tools":["vargate_web_search","crm_lookup"]}`
	if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", body, &a).status; code != 201 || len(a.Warnings) != 0 {
		t.Fatalf("create = %d %+v", code, a)
	}
	if code := e.do(t, "globex/admin", "POST", "/api/managed/agents", body, nil).status; code != 422 {
		t.Errorf("another tenant's tool allowed: %d", code)
	}

	// The same name again: created, with a warning naming the other.
	var dup httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", `{"name":"research assistant "}`, &dup).status; code != 201 ||
		len(dup.Warnings) != 1 || !strings.Contains(dup.Warnings[0], a.ID) {
		t.Errorf("duplicate name = %d %+v", code, dup.Warnings)
	}
	var got httpapi.AgentResponse
	if e.do(t, "acme/admin", "GET", "/api/managed/agents/"+dup.ID, "", &got); got.Warnings != nil {
		t.Errorf("warnings are for the answer to a change, not every read: %v", got.Warnings)
	}

	// Deleting the tool does not block unrelated edits; adding an unknown
	// tool still is refused.
	if code := e.do(t, "acme/admin", "DELETE", "/api/tools/crm_lookup", "", nil).status; code != 204 && code != 200 {
		t.Fatalf("delete tool = %d", code)
	}
	if code := e.do(t, "acme/admin", "PATCH", "/api/managed/agents/"+a.ID, `{"max_daily_sessions":5}`, nil).status; code != 200 {
		t.Errorf("unrelated edit after the tool was deleted = %d", code)
	}
	var eb errBody
	if code := e.do(t, "acme/admin", "PATCH", "/api/managed/agents/"+a.ID, `{"allowed_tools":["crm_lookup","nope"]}`, &eb).status; code != 422 || eb.Error.Field != "allowed_tools[1]" {
		t.Errorf("patch with an unknown tool = %d %+v", code, eb.Error)
	}
}
