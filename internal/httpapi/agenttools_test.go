package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/tools"
)

// allowed_tools names only tools the tenant has (built-in or its own);
// anything else is refused naming the entry. A second configuration with
// the same name is allowed, with a warning.
func TestAgentAllowedToolsMustExist(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t, sqlstore.SQLite)
	as := auth.NewService(sqlstore.NewAuthStore(db))
	e := &managedEnv{keys: map[string]string{}}
	for _, name := range []string{"acme", "globex"} {
		tn, err := as.CreateTenant(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := as.CreateKey(ctx, auth.KeyRequest{TenantID: tn.ID, Role: vargate.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		e.keys[name+"/admin"] = secret
	}
	catalog := tools.NewCatalog(tools.NewWebSearchTool(&tools.WebSearchConnector{}))
	catalog.Store = sqlstore.NewToolStore(db)
	agents := agent.New(sqlstore.NewAgentStore(db), nil)
	agents.KnownTool = func(ctx context.Context, tenantID, name string) (bool, error) {
		set, err := catalog.Set(ctx, tenantID)
		if err != nil {
			return false, err
		}
		_, ok := set.Lookup(name)
		return ok, nil
	}
	e.srv = httptest.NewServer((&httpapi.Server{Auth: as, Agents: agents, Tools: catalog, Ping: db.Ping}).Handler())
	t.Cleanup(e.srv.Close)

	for _, tt := range []struct{ tools, field, says string }{
		{`["vargate_launch_missiles"]`, "allowed_tools[0]", `unknown tool "vargate_launch_missiles"`},
		{`["vargate_web_search","crm_lookup"]`, "allowed_tools[1]", `unknown tool "crm_lookup"`},
		{`["bash"]`, "allowed_tools[0]", "governed_builtin_tools"},
		{`["vargate_web_search","vargate_web_search"]`, "allowed_tools[1]", "listed twice"},
	} {
		var eb errBody
		if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", `{"name":"x","allowed_tools":`+tt.tools+`}`, &eb); code != 422 ||
			eb.Error.Field != tt.field || !strings.Contains(eb.Error.Message, tt.says) {
			t.Errorf("allowed_tools %s: %d %+v, want 422 naming %s and saying %q", tt.tools, code, eb.Error, tt.field, tt.says)
		}
	}

	// A tenant tool, once declared, may be allowed; only in its tenant.
	def := `{"name":"crm_lookup","description":"Look up a contact","input_schema":{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]},` +
		`"request":{"url":"https://crm.example.com/contacts/{id}"},"read_only":true}`
	if code := e.do(t, "acme/admin", "POST", "/api/tools", def, nil); code != 201 {
		t.Fatalf("declare tool = %d", code)
	}
	var a httpapi.AgentResponse
	body := `{"name":"Research Assistant","allowed_tools":["vargate_web_search","crm_lookup"]}`
	if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", body, &a); code != 201 || len(a.Warnings) != 0 {
		t.Fatalf("create = %d %+v", code, a)
	}
	if code := e.do(t, "globex/admin", "POST", "/api/managed/agents", body, nil); code != 422 {
		t.Errorf("another tenant's tool allowed: %d", code)
	}

	// The same name again: created, with a warning naming the other.
	var dup httpapi.AgentResponse
	if code := e.do(t, "acme/admin", "POST", "/api/managed/agents", `{"name":"research assistant "}`, &dup); code != 201 ||
		len(dup.Warnings) != 1 || !strings.Contains(dup.Warnings[0], a.ID) {
		t.Errorf("duplicate name = %d %+v", code, dup.Warnings)
	}
	var got httpapi.AgentResponse
	if e.do(t, "acme/admin", "GET", "/api/managed/agents/"+dup.ID, "", &got); got.Warnings != nil {
		t.Errorf("warnings are for the answer to a change, not every read: %v", got.Warnings)
	}

	// Deleting the tool does not block unrelated edits; adding an unknown
	// tool still is refused.
	if code := e.do(t, "acme/admin", "DELETE", "/api/tools/crm_lookup", "", nil); code != 204 && code != 200 {
		t.Fatalf("delete tool = %d", code)
	}
	if code := e.do(t, "acme/admin", "PATCH", "/api/managed/agents/"+a.ID, `{"max_daily_sessions":5}`, nil); code != 200 {
		t.Errorf("unrelated edit after the tool was deleted = %d", code)
	}
	var eb errBody
	if code := e.do(t, "acme/admin", "PATCH", "/api/managed/agents/"+a.ID, `{"allowed_tools":["crm_lookup","nope"]}`, &eb); code != 422 || eb.Error.Field != "allowed_tools[1]" {
		t.Errorf("patch with an unknown tool = %d %+v", code, eb.Error)
	}
}
