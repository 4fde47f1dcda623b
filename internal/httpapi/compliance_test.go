package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
)

// complianceAPI is the API with the compliance service and one session
// in each tenant with two governed calls (an allowed search and an
// e-mail held for approval).
type complianceAPI struct {
	*api
	sessions map[string]string // tenant name → session ID
}

func newComplianceAPI(t *testing.T) *complianceAPI {
	t.Helper()
	ctx := t.Context()
	e := &complianceAPI{api: newAPI(t, apiOptions{Compliance: true}), sessions: map[string]string{}}
	engine, log := e.engine, e.log
	agents, sessions := sqlstore.NewAgentStore(e.db), sqlstore.NewSessionStore(e.db)
	at := time.Date(2026, 4, 11, 9, 0, 0, 0, time.UTC)
	for _, name := range []string{"acme", "globex"} {
		tenantID := e.tids[name]
		cfg := agent.Config{ID: "agent-" + name, TenantID: tenantID, Version: 1, Name: "n", AnthropicModel: "m",
			AllowedTools: []string{"vargate_web_search", "vargate_send_email"}, RequireHumanApproval: []string{"vargate_send_*"},
			MaxSessionHours: 1, MaxDailySessions: 5, MaxDelegationDepth: 1,
			GovernanceProfile: agent.GovernanceProfile{RiskLevel: "standard", Network: "limited"}, CreatedAt: at, UpdatedAt: at}
		if err := agents.Create(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		s := session.Session{ID: vargate.NewID("vs-", 8), TenantID: tenantID, AgentID: cfg.ID, AgentVersion: 1, TokenID: "tok-" + name,
			TokenHash: auth.HashToken(name), DelegationChain: []string{cfg.ID}, CreatedBy: "key", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := sessions.Reserve(ctx, s, session.Budget{MaxConcurrent: 10, DayStart: at.Truncate(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sessions.Transition(ctx, session.Transition{TenantID: tenantID, ID: s.ID,
			From: []session.Status{session.StatusCreating}, To: session.StatusActive, At: at}); err != nil {
			t.Fatal(err)
		}
		e.sessions[name] = s.ID
		for i, call := range []struct{ tool, args string }{
			{"vargate_web_search", `{"query":"governance"}`},
			{"vargate_send_email", `{"to":"a@example.com","subject":"s","body":"b"}`},
		} {
			c, findings, err := policy.NewCall(call.tool, json.RawMessage(call.args))
			if err != nil {
				t.Fatal(err)
			}
			in := &policy.Input{Tenant: policy.Tenant{ID: tenantID}, Session: policy.Session{ID: s.ID}, Call: c, PII: findings,
				Agent: policy.Agent{ID: cfg.ID, AllowedTools: cfg.AllowedTools, RequireHumanApproval: cfg.RequireHumanApproval,
					GovernanceProfile: policy.GovernanceProfile{RiskLevel: "standard"}}}
			in.Time = at.Add(time.Duration(i+1) * time.Minute)
			d, err := engine.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			detail, _ := json.Marshal(map[string]any{"outcome": "executed", "input": in})
			if _, err := log.Append(ctx, audit.Record{TenantID: tenantID, Time: in.Time, Source: audit.SourceMCPGoverned,
				SessionID: s.ID, AgentID: cfg.ID, ActionID: vargate.NewID("act-", 6), Tool: call.tool, Decision: d.Decision,
				PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID, Reasons: d.Reasons, ArgsDigest: c.ArgumentsDigest,
				ArgsRedacted: json.RawMessage(call.args), Actor: s.TokenID, Detail: detail}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e
}

func TestComplianceRoutesAccess(t *testing.T) {
	e := newComplianceAPI(t)
	id := e.sessions["acme"]
	routes := []struct{ method, path string }{
		{"GET", "/managed/sessions/" + id + "/compliance"},
		{"GET", "/api/managed/sessions/" + id + "/compliance?format=html"},
		{"POST", "/managed/sessions/" + id + "/replay"},
		{"POST", "/api/policies/replay"},
	}
	for _, rt := range routes {
		for role, want := range map[string]int{"admin": 200, "approver": 200, "auditor": 200, "agent": 403} {
			if r := e.do(t, "acme/"+role, rt.method, rt.path, "", nil); r.status != want {
				t.Errorf("%s %s as %s: %d, want %d: %s", rt.method, rt.path, role, r.status, want, r.raw)
			}
		}
		if r := e.do(t, "vgk_nonsense", rt.method, rt.path, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a valid key: %d, want 401", rt.method, rt.path, r.status)
		}
	}
	// Another tenant's session does not exist.
	for _, rt := range routes[:3] {
		if r := e.do(t, "globex/admin", rt.method, rt.path, "", nil); r.status != http.StatusNotFound {
			t.Errorf("%s %s as globex: %d, want 404", rt.method, rt.path, r.status)
		}
	}
}

func TestComplianceExportEndpoint(t *testing.T) {
	e := newComplianceAPI(t)
	id := e.sessions["acme"]
	r := e.do(t, "acme/auditor", "GET", "/api/managed/sessions/"+id+"/compliance", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("export: %d %s", r.status, r.header.Get("Content-Type"))
	}
	// What the guide's Python example reads.
	var doc struct {
		Session struct {
			ID              string   `json:"id"`
			DurationSeconds *float64 `json:"duration_seconds"`
		} `json:"session"`
		Summary struct {
			TotalEvents int      `json:"total_events"`
			DenialRate  *float64 `json:"denial_rate"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Session.ID != id || doc.Session.DurationSeconds == nil || doc.Summary.TotalEvents != 2 || doc.Summary.DenialRate == nil {
		t.Errorf("guide fields: %+v", doc)
	}
	v, err := audit.NewVerifier(e.log.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if res := compliance.VerifyExport(r.raw, v); !res.Valid || res.RecordsChecked != 2 {
		t.Errorf("the downloaded export does not verify: %+v", res)
	}
	tampered := bytes.Replace(r.raw, []byte(`"decision":"require_approval"`), []byte(`"decision":"allow"`), -1)
	if res := compliance.VerifyExport(tampered, v); res.Valid {
		t.Error("a tampered download verifies")
	}

	r = e.do(t, "acme/admin", "GET", "/managed/sessions/"+id+"/compliance?format=html", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.Contains(r.raw, []byte(id)) || !bytes.HasSuffix(bytes.TrimSpace(r.raw), []byte("</html>")) {
		t.Errorf("html: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := e.do(t, "acme/admin", "GET", "/managed/sessions/"+id+"/compliance?format=pdf", "", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("format=pdf: %d, want 422", r.status)
	}
	if r := e.do(t, "acme/admin", "GET", "/managed/sessions/vs-0000000000000000/compliance", "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown session: %d, want 404", r.status)
	}
}

func TestReplayEndpoints(t *testing.T) {
	e := newComplianceAPI(t)
	id := e.sessions["acme"]
	var rep compliance.ReplayReport
	// The guide's curl sends no body.
	r := e.do(t, "acme/auditor", "POST", "/api/managed/sessions/"+id+"/replay", "", nil)
	if r.status != 200 {
		t.Fatalf("replay: %d %s", r.status, r.raw)
	}
	if err := json.Unmarshal(r.raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.TotalReplayed != 2 || rep.Consistent != 2 || rep.ReplayedPolicyVersion != "base" || rep.SessionID != id {
		t.Errorf("replay against the active policy: %+v", rep)
	}

	draft := `{"modules":{"d.rego":"package vargate.tenant\n\ndeny contains \"no_search: off\" if input.call.tool == \"vargate_web_search\"\n"}}`
	r = e.do(t, "acme/approver", "POST", "/managed/sessions/"+id+"/replay", draft, nil)
	if r.status != 200 {
		t.Fatalf("draft replay: %d %s", r.status, r.raw)
	}
	rep = compliance.ReplayReport{}
	if err := json.Unmarshal(r.raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Changed != 1 || len(rep.Changes) != 1 || rep.Changes[0].Tool != "vargate_web_search" || rep.Changes[0].Replayed.Decision != "deny" || rep.Policy.Source != "draft" {
		t.Errorf("draft replay: %+v", rep)
	}

	r = e.do(t, "acme/auditor", "POST", "/policies/replay",
		`{"from":"2026-04-11T09:00:00Z","to":"2026-04-11T09:01:30Z",`+draft[1:], nil)
	if r.status != 200 {
		t.Fatalf("tenant replay: %d %s", r.status, r.raw)
	}
	rep = compliance.ReplayReport{}
	if err := json.Unmarshal(r.raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.TotalReplayed != 1 || rep.Changed != 1 || rep.Changes[0].SessionID != id {
		t.Errorf("tenant replay of the first 90 seconds: %+v", rep)
	}

	for name, body := range map[string]string{
		"unknown field":       `{"policy":"v1"}`,
		"unknown version":     `{"policy_version":"v404"}`,
		"bad draft":           `{"modules":{"d.rego":"package other"}}`,
		"not JSON":            `{"modules":`,
		"from after to":       `{"from":"2026-04-12T00:00:00Z","to":"2026-04-11T00:00:00Z"}`,
		"version and modules": `{"policy_version":"v1","modules":{}}`,
	} {
		path := "/managed/sessions/" + id + "/replay"
		if strings.Contains(body, "from") {
			path = "/policies/replay"
		}
		if r := e.do(t, "acme/admin", "POST", path, body, nil); r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422: %s", name, r.status, r.raw)
		}
	}
}

// failingRecords fails every read after the first.
type failingRecords struct {
	compliance.SessionRecords
	calls int
}

func (f *failingRecords) Audit(ctx context.Context, tenantID, sessionID string, afterSeq int64, limit int) ([]audit.Record, error) {
	f.calls++
	if f.calls > 1 {
		return nil, errors.New("database went away")
	}
	return f.SessionRecords.Audit(ctx, tenantID, sessionID, afterSeq, limit)
}

// TestExportFailureAbortsTheStream: once the export has started, a read
// error must not end in a body that looks complete.
func TestExportFailureAbortsTheStream(t *testing.T) {
	e := newComplianceAPI(t)
	svc := e.compliance
	svc.Records = &failingRecords{SessionRecords: svc.Records}
	svc.PageSize = 1
	// Not e.do: the transport failing is the expected outcome here.
	req := e.request(t, "acme/admin", "GET", "/managed/sessions/"+e.sessions["acme"]+"/compliance", "")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return // aborted before the headers: fine
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil && json.Valid(raw) {
		t.Errorf("a failed export ended as valid JSON (%d): %s", resp.StatusCode, raw)
	}
}
