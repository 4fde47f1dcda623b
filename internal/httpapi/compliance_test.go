package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// complianceEnv is the API with the compliance service over SQLite: keys
// of every role in tenants acme and globex, and one session each with
// two governed calls (an allowed search and an e-mail held for approval).
type complianceEnv struct {
	srv      *httptest.Server
	log      *audit.Log
	svc      *compliance.Service
	keys     map[string]string // "acme/auditor" → secret
	sessions map[string]string // tenant name → session ID
}

func newComplianceEnv(t *testing.T) *complianceEnv {
	t.Helper()
	ctx := t.Context()
	db := storetest.Open(t, sqlstore.SQLite)
	as := auth.NewService(sqlstore.NewAuthStore(db))
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
	engine, err := policy.NewEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	agents, sessions := sqlstore.NewAgentStore(db), sqlstore.NewSessionStore(db)
	e := &complianceEnv{log: log, keys: map[string]string{}, sessions: map[string]string{}}
	at := time.Date(2026, 4, 11, 9, 0, 0, 0, time.UTC)
	for _, name := range []string{"acme", "globex"} {
		tn, err := as.CreateTenant(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleApprover, vargate.RoleAuditor, vargate.RoleAgent} {
			req := auth.KeyRequest{TenantID: tn.ID, Role: role}
			if role == vargate.RoleAgent {
				req.AgentID = "agent-" + name
			}
			_, secret, err := as.CreateKey(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			e.keys[name+"/"+string(role)] = secret
		}
		cfg := agent.Config{ID: "agent-" + name, TenantID: tn.ID, Version: 1, Name: "n", AnthropicModel: "m",
			AllowedTools: []string{"vargate_web_search", "vargate_send_email"}, RequireHumanApproval: []string{"vargate_send_*"},
			MaxSessionHours: 1, MaxDailySessions: 5, MaxDelegationDepth: 1,
			GovernanceProfile: agent.GovernanceProfile{RiskLevel: "standard", Network: "limited"}, CreatedAt: at, UpdatedAt: at}
		if err := agents.Create(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		s := session.Session{ID: vargate.NewID("vs-", 8), TenantID: tn.ID, AgentID: cfg.ID, AgentVersion: 1, TokenID: "tok-" + name,
			TokenHash: auth.HashToken(name), DelegationChain: []string{cfg.ID}, CreatedBy: "key", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := sessions.Reserve(ctx, s, session.Budget{MaxConcurrent: 10, DayStart: at.Truncate(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sessions.Transition(ctx, session.Transition{TenantID: tn.ID, ID: s.ID,
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
			in := &policy.Input{Tenant: policy.Tenant{ID: tn.ID}, Session: policy.Session{ID: s.ID}, Call: c, PII: findings,
				Agent: policy.Agent{ID: cfg.ID, AllowedTools: cfg.AllowedTools, RequireHumanApproval: cfg.RequireHumanApproval,
					GovernanceProfile: policy.GovernanceProfile{RiskLevel: "standard"}}}
			in.Time = at.Add(time.Duration(i+1) * time.Minute)
			d, err := engine.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			detail, _ := json.Marshal(map[string]any{"outcome": "executed", "input": in})
			if _, err := log.Append(ctx, audit.Record{TenantID: tn.ID, Time: in.Time, Source: audit.SourceMCPGoverned,
				SessionID: s.ID, AgentID: cfg.ID, ActionID: vargate.NewID("act-", 6), Tool: call.tool, Decision: d.Decision,
				PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID, Reasons: d.Reasons, ArgsDigest: c.ArgumentsDigest,
				ArgsRedacted: json.RawMessage(call.args), Actor: s.TokenID, Detail: detail}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.svc = compliance.New(sessions, agents, sessions, log, engine)
	api := &httpapi.Server{Auth: as, Ping: db.Ping, Audit: log, Compliance: e.svc}
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func (e *complianceEnv) do(t *testing.T, method, key, path, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

func TestComplianceRoutesAccess(t *testing.T) {
	e := newComplianceEnv(t)
	id := e.sessions["acme"]
	routes := []struct{ method, path string }{
		{"GET", "/managed/sessions/" + id + "/compliance"},
		{"GET", "/api/managed/sessions/" + id + "/compliance?format=html"},
		{"POST", "/managed/sessions/" + id + "/replay"},
		{"POST", "/api/policies/replay"},
	}
	for _, rt := range routes {
		for role, want := range map[string]int{"admin": 200, "approver": 200, "auditor": 200, "agent": 403} {
			if got, _, body := e.do(t, rt.method, e.keys["acme/"+role], rt.path, ""); got != want {
				t.Errorf("%s %s as %s: %d, want %d: %s", rt.method, rt.path, role, got, want, body)
			}
		}
		if got, _, _ := e.do(t, rt.method, "vgk_nonsense", rt.path, ""); got != http.StatusUnauthorized {
			t.Errorf("%s %s without a valid key: %d, want 401", rt.method, rt.path, got)
		}
	}
	// Another tenant's session does not exist.
	for _, rt := range routes[:3] {
		if got, _, _ := e.do(t, rt.method, e.keys["globex/admin"], rt.path, ""); got != http.StatusNotFound {
			t.Errorf("%s %s as globex: %d, want 404", rt.method, rt.path, got)
		}
	}
}

func TestComplianceExportEndpoint(t *testing.T) {
	e := newComplianceEnv(t)
	id := e.sessions["acme"]
	status, hdr, raw := e.do(t, "GET", e.keys["acme/auditor"], "/api/managed/sessions/"+id+"/compliance", "")
	if status != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("export: %d %s", status, hdr.Get("Content-Type"))
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
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Session.ID != id || doc.Session.DurationSeconds == nil || doc.Summary.TotalEvents != 2 || doc.Summary.DenialRate == nil {
		t.Errorf("guide fields: %+v", doc)
	}
	v, err := audit.NewVerifier(e.log.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if res := compliance.VerifyExport(raw, v); !res.Valid || res.RecordsChecked != 2 {
		t.Errorf("the downloaded export does not verify: %+v", res)
	}
	tampered := bytes.Replace(raw, []byte(`"decision":"require_approval"`), []byte(`"decision":"allow"`), -1)
	if res := compliance.VerifyExport(tampered, v); res.Valid {
		t.Error("a tampered download verifies")
	}

	status, hdr, raw = e.do(t, "GET", e.keys["acme/admin"], "/managed/sessions/"+id+"/compliance?format=html", "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !bytes.Contains(raw, []byte(id)) || !bytes.HasSuffix(bytes.TrimSpace(raw), []byte("</html>")) {
		t.Errorf("html: %d %s", status, hdr.Get("Content-Type"))
	}
	if status, _, _ := e.do(t, "GET", e.keys["acme/admin"], "/managed/sessions/"+id+"/compliance?format=pdf", ""); status != http.StatusUnprocessableEntity {
		t.Errorf("format=pdf: %d, want 422", status)
	}
	if status, _, _ := e.do(t, "GET", e.keys["acme/admin"], "/managed/sessions/vs-0000000000000000/compliance", ""); status != http.StatusNotFound {
		t.Errorf("unknown session: %d, want 404", status)
	}
}

func TestReplayEndpoints(t *testing.T) {
	e := newComplianceEnv(t)
	id := e.sessions["acme"]
	var rep compliance.ReplayReport
	// The guide's curl sends no body.
	status, _, raw := e.do(t, "POST", e.keys["acme/auditor"], "/api/managed/sessions/"+id+"/replay", "")
	if status != 200 {
		t.Fatalf("replay: %d %s", status, raw)
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.TotalReplayed != 2 || rep.Consistent != 2 || rep.ReplayedPolicyVersion != "base" || rep.SessionID != id {
		t.Errorf("replay against the active policy: %+v", rep)
	}

	draft := `{"modules":{"d.rego":"package vargate.tenant\n\ndeny contains \"no_search: off\" if input.call.tool == \"vargate_web_search\"\n"}}`
	status, _, raw = e.do(t, "POST", e.keys["acme/approver"], "/managed/sessions/"+id+"/replay", draft)
	if status != 200 {
		t.Fatalf("draft replay: %d %s", status, raw)
	}
	rep = compliance.ReplayReport{}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Changed != 1 || len(rep.Changes) != 1 || rep.Changes[0].Tool != "vargate_web_search" || rep.Changes[0].Replayed.Decision != "deny" || rep.Policy.Source != "draft" {
		t.Errorf("draft replay: %+v", rep)
	}

	status, _, raw = e.do(t, "POST", e.keys["acme/auditor"], "/policies/replay",
		`{"from":"2026-04-11T09:00:00Z","to":"2026-04-11T09:01:30Z",`+draft[1:])
	if status != 200 {
		t.Fatalf("tenant replay: %d %s", status, raw)
	}
	rep = compliance.ReplayReport{}
	if err := json.Unmarshal(raw, &rep); err != nil {
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
		if status, _, raw := e.do(t, "POST", e.keys["acme/admin"], path, body); status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422: %s", name, status, raw)
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
	e := newComplianceEnv(t)
	svc := e.svc
	svc.Records = &failingRecords{SessionRecords: svc.Records}
	svc.PageSize = 1
	req, _ := http.NewRequest("GET", e.srv.URL+"/managed/sessions/"+e.sessions["acme"]+"/compliance", nil)
	req.Header.Set("X-API-Key", e.keys["acme/admin"])
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
