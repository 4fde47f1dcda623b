package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/tools"
)

// Both protocol eras are served by the one stateless handler.
var eras = []struct{ name, version, want string }{
	{"2026-07-28", "", "2026-07-28"},
	{"2025-11-25", "2025-11-25", "2025-11-25"},
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func structured(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("structuredContent %s: %v", b, err)
	}
	return m
}

func TestToolsListFollowsAgentConfig(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			cs := g.connect(t, g.acme.AgentKey, era.version)
			if got := cs.InitializeResult().ProtocolVersion; got != era.want {
				t.Errorf("protocol version = %s, want %s", got, era.want)
			}
			want := []string{"crm_lookup", tools.ApprovalStatus, tools.HTTPRequest, tools.ReadDatabase, tools.SendEmail, tools.WebSearch}
			slices.Sort(want)
			if got := toolNames(t, cs); !slices.Equal(got, want) {
				t.Errorf("acme tools = %v, want %v", got, want)
			}
			// globex has no crm_lookup of its own, so its allowed_tools entry
			// shows nothing.
			cs2 := g.connect(t, g.globex.AgentKey, era.version)
			want = []string{tools.ApprovalStatus, tools.WebSearch}
			if got := toolNames(t, cs2); !slices.Equal(got, want) {
				t.Errorf("globex tools = %v, want %v", got, want)
			}
		})
	}
}

func TestAllowedCallRunsWithBrokeredCredential(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			cs := g.connect(t, g.acme.AgentKey, era.version)
			res := call(t, cs, tools.WebSearch, map[string]any{"query": "AI governance", "max_results": 1})
			if res.IsError {
				t.Fatalf("isError: %s", text(res))
			}
			got := structured(t, res)
			results, _ := got["results"].([]any)
			if len(results) != 1 || !strings.Contains(fmt.Sprint(results[0]), "Result for AI governance") {
				t.Errorf("results = %v, want the one result the fake API gave for the query", got["results"])
			}
			// The text repeats the structured content.
			if !strings.Contains(text(res), "Result for AI governance") {
				t.Errorf("text = %q", text(res))
			}
			actionID, _ := res.Meta["ai.vargate/action_id"].(string)
			recs := g.records(t, g.acme.ID, audit.SourceMCPGoverned)
			last := recs[len(recs)-1]
			if last.ActionID != actionID || last.Decision != "allow" || last.Tool != tools.WebSearch || last.Outcome != audit.OutcomeExecuting ||
				last.DecisionID == "" || last.PolicyVersion != "base" || last.AgentID != g.acme.AgentID {
				t.Errorf("audit record = %+v, want the allowed call, recorded before it ran", last)
			}
			g.gov.Flush()
			outs := g.records(t, g.acme.ID, audit.SourceMCPOutcome)
			if fin := outs[len(outs)-1]; fin.ActionID != actionID || fin.Outcome != audit.OutcomeExecuted || fin.ResultDigest == "" || fin.Seq <= last.Seq {
				t.Errorf("outcome record = %+v, want executed with its result digest, after the governed record", fin)
			}
			// The credential use is on the record too, for the same action.
			var used bool
			for _, r := range g.records(t, g.acme.ID, audit.SourceCredential) {
				used = used || (r.ActionID == actionID && r.Tool == tools.WebSearch)
			}
			if !used {
				t.Error("no credential record for the action")
			}
		})
	}
}

func TestDeniedCall(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	cs := g.connect(t, g.acme.AgentKey, "")
	// A secret in the arguments is denied at every risk level.
	res := call(t, cs, tools.WebSearch, map[string]any{"query": "is AKIAIOSFODNN7EXAMPLE still valid"})
	if !res.IsError {
		t.Fatalf("not an error: %s", text(res))
	}
	body := structured(t, res)
	if body["status"] != "denied" || !strings.Contains(fmt.Sprint(body["reasons"]), "secret_in_arguments") {
		t.Errorf("structured = %v, want denied with secret_in_arguments", body)
	}
	if !strings.Contains(text(res), "denied by policy") {
		t.Errorf("text = %q", text(res))
	}
	recs := g.records(t, g.acme.ID, audit.SourceMCPGoverned)
	last := recs[len(recs)-1]
	if last.Decision != "deny" || len(last.Reasons) == 0 || strings.Contains(string(last.ArgsRedacted), "AKIAIOSFODNN7EXAMPLE") {
		t.Errorf("audit record = %+v, want a deny with the secret redacted", last)
	}
	if strings.Contains(string(last.Detail), "AKIAIOSFODNN7EXAMPLE") {
		t.Errorf("the secret reached the audit detail: %s", last.Detail)
	}
	evs := g.events.all()
	if len(evs) != 1 || evs[0].Name != "action.denied" || evs[0].Tenant != g.acme.ID || evs[0].Data["action_id"] != last.ActionID {
		t.Errorf("webhook events = %+v, want one action.denied for the action", evs)
	}
	// A tool listed but not in allowed_tools: globex calling http_request.
	cs2 := g.connect(t, g.globex.AgentKey, "")
	res = call(t, cs2, tools.HTTPRequest, map[string]any{"method": "GET", "url": "https://example.com/"})
	if !res.IsError || !strings.Contains(text(res), "tool_not_allowed") {
		t.Errorf("not-allowed tool: isError=%v %q, want a tool_not_allowed denial", res.IsError, text(res))
	}
}

func TestPendingCallThenApprovalAndStatus(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	token, sessionID := g.sessionToken(g.acme)
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			cs := g.connect(t, token, era.version)
			res := call(t, cs, tools.SendEmail, map[string]any{"to": "bob@example.com", "subject": "Report", "body": "Hello Bob"})
			if res.IsError {
				t.Fatalf("isError: %s", text(res))
			}
			body := structured(t, res)
			id, _ := body["action_id"].(string)
			if body["status"] != "pending_approval" || id == "" {
				t.Fatalf("structured = %v, want pending_approval with an action_id", body)
			}
			wantText := "Action pending human approval. Action ID: " + id + ". Your request to send an email to bob@example.com has been queued for review."
			if !strings.HasPrefix(text(res), wantText) {
				t.Errorf("text = %q, want prefix %q", text(res), wantText)
			}
			if n := len(g.smtp.received()); n != 0 && era.name == eras[0].name {
				t.Fatalf("%d mails sent before approval", n)
			}
			st := structured(t, call(t, cs, tools.ApprovalStatus, map[string]any{"action_id": id}))
			if st["status"] != string(approval.StatusPending) {
				t.Errorf("status before approval = %v", st)
			}
			// The decision record is the queued action's record.
			recs := g.records(t, g.acme.ID, audit.SourceMCPGoverned)
			var found bool
			for _, r := range recs {
				found = found || (r.ActionID == id && r.Decision == "require_approval" && r.SessionID == sessionID)
			}
			if !found {
				t.Errorf("no require_approval record for action %s in session %s", id, sessionID)
			}

			before := len(g.smtp.received())
			approver := vargate.Principal{TenantID: g.acme.ID, Role: vargate.RoleApprover, KeyID: "key-approver"}
			a, err := g.queue.Approve(t.Context(), approver, id, "ok")
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != approval.StatusExecuted {
				t.Fatalf("after approve: %s %+v", a.Status, a.Failure)
			}
			mails := g.smtp.received()
			if len(mails) != before+1 || mails[len(mails)-1].To[0] != "bob@example.com" || !strings.Contains(mails[len(mails)-1].Data, "Hello Bob") {
				t.Fatalf("mails = %+v, want the approved one to bob", mails)
			}
			st = structured(t, call(t, cs, tools.ApprovalStatus, map[string]any{"action_id": id}))
			if st["status"] != string(approval.StatusExecuted) || !strings.Contains(fmt.Sprint(st["result"]), "sent") {
				t.Errorf("status after approval = %v, want executed with the result", st)
			}
		})
	}
}

func TestApprovalStatusIsScopedToTheAgent(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	token, _ := g.sessionToken(g.acme)
	cs := g.connect(t, token, "")
	id := structured(t, call(t, cs, tools.SendEmail, map[string]any{"to": "bob@example.com", "subject": "s", "body": "b"}))["action_id"].(string)

	for name, tok := range map[string]string{
		"another session of the same agent": func() string { t, _ := g.sessionToken(g.acme); return t }(),
		"another tenant":                    g.globex.AgentKey,
	} {
		t.Run(name, func(t *testing.T) {
			res := call(t, g.connect(t, tok, ""), tools.ApprovalStatus, map[string]any{"action_id": id})
			if !res.IsError || !strings.Contains(text(res), "no action") {
				t.Errorf("isError=%v %q, want not found", res.IsError, text(res))
			}
		})
	}
	// The agent key of the same agent (no session) may ask.
	res := call(t, g.connect(t, g.acme.AgentKey, ""), tools.ApprovalStatus, map[string]any{"action_id": id})
	if res.IsError {
		t.Errorf("agent key: %s", text(res))
	}
}

func TestUnknownToolAndBadArguments(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			cs := g.connect(t, g.acme.AgentKey, era.version)
			_, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "vargate_transfer_funds", Arguments: map[string]any{}})
			if err == nil || !strings.Contains(err.Error(), "unknown tool") {
				t.Errorf("unknown tool: %v, want a JSON-RPC error", err)
			}
			recs := g.records(t, g.acme.ID, audit.SourceMCPGoverned)
			if last := recs[len(recs)-1]; last.Tool != "vargate_transfer_funds" || last.Decision != "deny" || !strings.HasPrefix(last.Reasons[0], "unknown_tool") {
				t.Errorf("unknown tool record = %+v", last)
			}

			for name, args := range map[string]map[string]any{
				"missing required":   {"max_results": 3},
				"wrong type":         {"query": 42},
				"unknown property":   {"query": "x", "_vargate_agent_id": "agent-spoofed"},
				"out of range":       {"query": "x", "max_results": 500},
				"connector validate": nil,
			} {
				tool := tools.WebSearch
				if args == nil {
					tool, args = tools.SendEmail, map[string]any{"to": "not an address", "subject": "s", "body": "b"}
				}
				res := call(t, cs, tool, args)
				if !res.IsError || structured(t, res)["status"] != "invalid_arguments" {
					t.Errorf("%s: isError=%v %s, want invalid_arguments", name, res.IsError, text(res))
				}
			}
		})
	}
}

func TestTenantToolAndIsolation(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	res := call(t, g.connect(t, g.acme.AgentKey, ""), "crm_lookup", map[string]any{"id": "c/42"})
	if res.IsError {
		t.Fatalf("crm_lookup: %s", text(res))
	}
	got := structured(t, res)
	js, _ := got["json"].(map[string]any)
	if js["path"] != "/contacts/c/42" || js["key"] != tools.Redacted {
		t.Errorf("tenant tool request = %v, want the escaped path and the echoed credential scrubbed", got)
	}
	if key := <-g.apiKeys; key != "crm-secret-"+g.acme.ID {
		t.Errorf("the API received X-Api-Key %q, want acme's credential", key)
	}
	// globex has no such tool: unknown, even though its config allows the name.
	_, err := g.connect(t, g.globex.AgentKey, "").CallTool(t.Context(), &mcp.CallToolParams{Name: "crm_lookup", Arguments: map[string]any{"id": "1"}})
	if err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("other tenant's tool: %v, want unknown tool", err)
	}
	// Deleting the tool takes it out of the list at once.
	if err := g.catalog.Delete(t.Context(), g.acme.ID, "key-test", "crm_lookup"); err != nil {
		t.Fatal(err)
	}
	if names := toolNames(t, g.connect(t, g.acme.AgentKey, "")); slices.Contains(names, "crm_lookup") {
		t.Errorf("deleted tool still listed: %v", names)
	}
}

func TestParallelSessionsStayInTheirTenant(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tn := []tenant{g.acme, g.globex}[i%2]
			cs, err := tryConnect(context.Background(), g.url, tn.AgentKey, "")
			if err != nil {
				errs <- err
				return
			}
			defer cs.Close()
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tools.WebSearch, Arguments: map[string]any{"query": fmt.Sprintf("q%d", i)}})
			if err != nil || res.IsError {
				errs <- fmt.Errorf("call %d: %v %v", i, err, res)
				return
			}
			id, _ := res.Meta["ai.vargate/action_id"].(string)
			errs <- checkOwner(g, tn, id)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// checkOwner verifies that the action's record is in the tenant's trail.
func checkOwner(g *gateway, tn tenant, actionID string) error {
	for _, r := range g.records(nopTB{}, tn.ID, audit.SourceMCPGoverned) {
		if r.ActionID == actionID {
			if r.AgentID != tn.AgentID {
				return fmt.Errorf("action %s recorded for agent %s, want %s", actionID, r.AgentID, tn.AgentID)
			}
			return nil
		}
	}
	return fmt.Errorf("action %s not in tenant %s's trail", actionID, tn.ID)
}

// nopTB lets helpers run from goroutines; they only call Helper.
type nopTB struct{ testing.TB }

func (nopTB) Helper()           {}
func (nopTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
