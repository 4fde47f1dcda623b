package compliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/tools"
)

// env is a gateway in miniature: a SQLite store with tenants t1 and t2,
// one agent configuration each, a real audit log, policy engine and
// governor (fake connectors), and the compliance service over them. Its
// clock advances one second per reading.
type env struct {
	db       *sqlstore.DB
	log      *audit.Log
	sessions *sqlstore.SessionStore
	engine   *policy.Engine
	gov      *govern.Governor
	svc      *compliance.Service
	configs  map[string]agent.Config // by tenant

	mu  sync.Mutex
	now time.Time
}

var start = time.Date(2026, 4, 11, 9, 0, 0, 0, time.UTC)

func (e *env) tick() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(time.Second)
	return e.now
}

type configs struct{ e *env }

func (c configs) ConfigFor(_ context.Context, p vargate.Principal) (agent.Config, error) {
	cfg, ok := c.e.configs[p.TenantID]
	if !ok || cfg.ID != p.AgentID {
		return agent.Config{}, vargate.NotFound("agent " + p.AgentID)
	}
	return cfg, nil
}

type queue struct{}

func (queue) Enqueue(_ context.Context, r approval.Request) (approval.Action, error) {
	return approval.Action{ID: r.ID, TenantID: r.TenantID, SessionID: r.SessionID, AgentID: r.AgentID, Tool: r.Tool,
		Status: approval.StatusPending}, nil
}

func (queue) StatusFor(context.Context, vargate.Principal, string) (approval.Action, error) {
	return approval.Action{}, vargate.NotFound("action")
}

type connector struct{}

func (connector) Call(context.Context, *tools.Call) (tools.Result, error) {
	return tools.Result{Structured: json.RawMessage(`{"ok":true}`)}, nil
}

func newEnv(t testing.TB) *env { return newEnvOn(t, sqlstore.SQLite) }

func newEnvOn(t testing.TB, d sqlstore.Dialect) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{now: start, configs: map[string]agent.Config{}}
	e.db = storetest.Open(t, d)
	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	e.log = audit.New(sqlstore.NewAuditStore(e.db), signer)
	e.log.CheckpointInterval = -1
	e.log.Now = e.tick
	if err := e.log.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.log.Close() })

	as, ags := sqlstore.NewAuthStore(e.db), sqlstore.NewAgentStore(e.db)
	for _, tid := range []string{"t1", "t2"} {
		if err := as.CreateTenant(ctx, auth.Tenant{ID: tid, Name: tid, CreatedAt: start}); err != nil {
			t.Fatal(err)
		}
		cfg := agent.Config{ID: "agent-" + tid, TenantID: tid, Version: 1, Name: "Research Assistant",
			AnthropicModel: "claude-sonnet-4-6", SystemPrompt: "You research.",
			AllowedTools:         []string{tools.WebSearch, tools.SendEmail},
			RequireHumanApproval: []string{"vargate_send_*"},
			MaxSessionHours:      2, MaxDailySessions: 10, MaxDelegationDepth: 1,
			GovernanceProfile: agent.GovernanceProfile{RiskLevel: "standard", PIIDetection: true, Network: "limited",
				AllowedDomains: []string{"example.com"}},
			CreatedAt: start, UpdatedAt: start}
		if err := ags.Create(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		e.configs[tid] = cfg
	}
	e.sessions = sqlstore.NewSessionStore(e.db)

	if e.engine, err = policy.NewEngine(ctx, nil); err != nil {
		t.Fatal(err)
	}
	search := tools.NewWebSearchTool(&tools.WebSearchConnector{})
	search.Connector = connector{}
	email := tools.NewSendEmailTool(&tools.EmailConnector{})
	email.Connector = connector{}
	e.gov = govern.New(tools.NewCatalog(search, email), configs{e}, e.engine, e.log, nil)
	e.gov.Queue, e.gov.Now = queue{}, e.tick

	e.svc = compliance.New(e.sessions, ags, e.sessions, e.log, e.engine)
	e.svc.Now = e.tick
	return e
}

// newSession makes an active session of the tenant's agent and records
// its creation as the session service does.
func (e *env) newSession(t testing.TB, tenantID string) session.Session {
	t.Helper()
	return e.makeSession(t, tenantID, false)
}

// makeSession makes an active session; quiet leaves out its creation record.
func (e *env) makeSession(t testing.TB, tenantID string, quiet bool) session.Session {
	t.Helper()
	ctx := context.Background()
	cfg := e.configs[tenantID]
	at := e.tick()
	s := session.Session{ID: vargate.NewID("vs-", 8), TenantID: tenantID, AgentID: cfg.ID, AgentVersion: cfg.Version,
		TokenID: vargate.NewID("tok-", 6), TokenHash: auth.HashToken(vargate.NewID("", 8)), MCPServerURL: "https://gw.example/mcp",
		DelegationChain: []string{cfg.ID}, CreatedBy: "key-admin", CreatedAt: at, ExpiresAt: at.Add(2 * time.Hour)}
	if err := e.sessions.Reserve(ctx, s, session.Budget{MaxConcurrent: 100, DayStart: at.Truncate(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.AnthropicSessionID = "sesn_" + s.ID
	s.SystemPromptHash = "sha256:0f4e" + s.ID
	if err := e.sessions.Prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	s, err := e.sessions.Transition(ctx, session.Transition{TenantID: tenantID, ID: s.ID,
		From: []session.Status{session.StatusCreating}, To: session.StatusActive, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if quiet {
		return s
	}
	e.append(t, audit.Record{TenantID: tenantID, Source: audit.SourceControlPlane, SessionID: s.ID, AgentID: cfg.ID,
		Decision: "session.created", Actor: "key-admin"}, map[string]any{
		"event": "session.created", "system_prompt_hash": s.SystemPromptHash, "agent_version": cfg.Version,
		"budget": map[string]any{"max_concurrent": 10, "max_daily_agent": 10},
	})
	return s
}

func (e *env) append(t testing.TB, rec audit.Record, detail any) audit.Record {
	t.Helper()
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			t.Fatal(err)
		}
		rec.Detail = b
	}
	if rec.Time.IsZero() {
		rec.Time = e.tick()
	}
	out, err := e.log.Append(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// call makes a governed tool call in the session through the governor.
func (e *env) call(t testing.TB, s session.Session, tool, args string) govern.Outcome {
	t.Helper()
	p := vargate.Principal{TenantID: s.TenantID, Role: vargate.RoleAgent, AgentID: s.AgentID, SessionID: s.ID, KeyID: s.TokenID}
	out, err := e.gov.Call(context.Background(), p, tool, json.RawMessage(args))
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	e.gov.Flush() // the outcome record, before whatever the test records next
	return out
}

// observe records a built-in tool call as the event consumer does: the
// anomaly rules' verdict in the record's Anomaly. verdict overrides it
// (to simulate rules that have changed since).
func (e *env) observe(t testing.TB, s session.Session, tool, input string, verdict *anomaly.Verdict) audit.Record {
	t.Helper()
	v := anomaly.New(anomaly.Config{AllowedDomains: e.configs[s.TenantID].GovernanceProfile.AllowedDomains}).
		Analyze(tool, json.RawMessage(input))
	if verdict != nil {
		v = *verdict
	}
	an, err := json.Marshal(map[string]any{"flags": v.Flags, "severity": v.Severity, "score": v.Score,
		"flagged": v.Flagged(), "session_score": v.Score, "threshold": 1.0})
	if err != nil {
		t.Fatal(err)
	}
	return e.append(t, audit.Record{TenantID: s.TenantID, Source: audit.SourceMCPObserved, SessionID: s.ID, AgentID: s.AgentID,
		ActionID: vargate.NewID("toolu_", 8), Tool: tool, Decision: "observed", ArgsDigest: policy.Digest(json.RawMessage(input)),
		ArgsRedacted: json.RawMessage(input), Anomaly: an, Actor: "system"}, map[string]any{"event_id": "ev", "is_error": false})
}

// decide records the approval steps of a queued call as the queue does:
// the human's decision, then (when approved) the execution. The pending
// state has no record of its own: govern's require_approval record is it.
func (e *env) decide(t testing.TB, out govern.Outcome, to approval.Status, by string) {
	t.Helper()
	a := approval.Action{ID: out.ActionID, TenantID: out.Audit.TenantID, SessionID: out.Audit.SessionID, AgentID: out.Audit.AgentID,
		Tool: out.Tool, ArgsDigest: out.Audit.ArgsDigest, ArgsRedacted: out.Audit.ArgsRedacted,
		PolicyVersion: out.Decision.PolicyVersion, DecisionID: out.Decision.DecisionID}
	steps := []approval.Event{{From: approval.StatusPending, To: to, Actor: by, Note: "checked"}}
	if to == approval.StatusApproved {
		steps = append(steps, approval.Event{From: approval.StatusApproved, To: approval.StatusExecuted, Actor: approval.ActorSystem})
	}
	for i, ev := range steps {
		ev.ID, ev.Seq, ev.At = fmt.Sprintf("ev-%s-%d", a.ID, i), i+2, e.tick()
		if _, err := e.log.Append(context.Background(), approval.AuditRecord(a, ev)); err != nil {
			t.Fatal(err)
		}
	}
}

// interrupt stops the session as a person (actor) or the gateway.
func (e *env) interrupt(t testing.TB, s session.Session, actor, reason string) session.Session {
	t.Helper()
	at := e.tick()
	s, err := e.sessions.Transition(context.Background(), session.Transition{TenantID: s.TenantID, ID: s.ID,
		From: []session.Status{session.StatusActive}, To: session.StatusInterrupted, At: at, EndReason: reason})
	if err != nil {
		t.Fatal(err)
	}
	e.append(t, audit.Record{TenantID: s.TenantID, Source: audit.SourceSession, SessionID: s.ID, AgentID: s.AgentID,
		Decision: "session.interrupted", Actor: actor, Time: at}, map[string]any{"event": "session.interrupted", "reason": reason})
	return s
}

// credential records a credential use for an action, as the vault does.
func (e *env) credential(t testing.TB, s session.Session, actionID, toolID string) {
	t.Helper()
	e.append(t, audit.Record{TenantID: s.TenantID, Source: audit.SourceCredential, SessionID: s.ID, ActionID: actionID,
		Tool: toolID, Actor: s.TokenID}, map[string]any{"op": "use", "credential_id": "cred-1", "version": 1})
}

// export writes the session's JSON export.
func (e *env) export(t testing.TB, tenantID, sessionID string) []byte {
	t.Helper()
	x, err := e.svc.Export(context.Background(), tenantID, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := x.WriteJSON(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decodeDoc(t testing.TB, b []byte) compliance.Document {
	t.Helper()
	var d compliance.Document
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	return d
}

// sessionRecords returns every record of the session in the store.
func (e *env) sessionRecords(t testing.TB, tenantID, sessionID string) []audit.Record {
	t.Helper()
	recs, err := e.sessions.Audit(context.Background(), tenantID, sessionID, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// bulk appends records straight to the store in large batches (setup for
// big logs; the audit Log's writer would do the same, only slower).
func (e *env) bulk(t testing.TB, recs []audit.Record) {
	t.Helper()
	const batch = 2000
	for i := 0; i < len(recs); i += batch {
		ptrs := make([]*audit.Record, 0, batch)
		for j := i; j < min(i+batch, len(recs)); j++ {
			if err := recs[j].Normalize(); err != nil {
				t.Fatal(err)
			}
			ptrs = append(ptrs, &recs[j])
		}
		if err := e.log.Store.Append(context.Background(), ptrs); err != nil {
			t.Fatal(err)
		}
	}
}

// filler returns n records of other sessions of the tenant, as noise.
func filler(tenantID string, n int, at time.Time) []audit.Record {
	out := make([]audit.Record, n)
	for i := range out {
		out[i] = audit.Record{TenantID: tenantID, Time: at, Source: audit.SourceMCPObserved, SessionID: "vs-noise",
			ActionID: fmt.Sprintf("toolu_%d", i), Tool: "bash", Decision: "observed", ArgsRedacted: json.RawMessage(`{"command":"ls"}`)}
	}
	return out
}
