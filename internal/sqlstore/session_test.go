package sqlstore_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// sessionFixture is a store with tenants t1, t2 and agents a1 (of t1), a2
// (of t2).
func sessionFixture(t *testing.T, db *sqlstore.DB) *sqlstore.SessionStore {
	t.Helper()
	ctx := t.Context()
	at := time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC)
	as := sqlstore.NewAuthStore(db)
	ags := sqlstore.NewAgentStore(db)
	for i, tid := range []string{"t1", "t2"} {
		if err := as.CreateTenant(ctx, auth.Tenant{ID: tid, Name: tid, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		c := agent.Config{ID: fmt.Sprintf("a%d", i+1), TenantID: tid, Version: 1, Name: "n", AnthropicModel: "m",
			MaxSessionHours: 1, MaxDailySessions: 5, MaxDelegationDepth: 1,
			GovernanceProfile: agent.GovernanceProfile{RiskLevel: "standard", Network: "limited"}, CreatedAt: at, UpdatedAt: at}
		if err := ags.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return sqlstore.NewSessionStore(db)
}

func newSession(tenant, agentID string, at time.Time) session.Session {
	id := vargate.NewID("vs-", 8)
	return session.Session{
		ID: id, TenantID: tenant, AgentID: agentID, AgentVersion: 1, TokenID: "tok-" + id,
		TokenHash: auth.HashToken(id), MCPServerURL: "https://gw.example/api/mcp/server",
		DelegationChain: []string{agentID}, CreatedBy: "key-1", CreatedAt: at, ExpiresAt: at.Add(time.Hour),
	}
}

func TestSessionReserveRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := sessionFixture(t, db)
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 10, 0, 0, 0, time.UTC)
		b := session.Budget{MaxConcurrent: 10, DayStart: at.Truncate(24 * time.Hour)}
		var ok, limited atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for range 200 {
			wg.Go(func() {
				err := s.Reserve(ctx, newSession("t1", "a1", at), b)
				switch {
				case err == nil:
					ok.Add(1)
				case vargate.IsKind(err, vargate.KindRateLimited):
					limited.Add(1)
				default:
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("reserve: %v", err)
		}
		if ok.Load() != 10 || limited.Load() != 190 {
			t.Fatalf("reserved %d, limited %d; want exactly 10 and 190", ok.Load(), limited.Load())
		}
		// Another tenant has its own budget.
		if err := s.Reserve(ctx, newSession("t2", "a2", at), b); err != nil {
			t.Errorf("other tenant: %v", err)
		}
	})
}

func TestSessionLifecycleStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := sessionFixture(t, db)
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 10, 0, 0, 0, time.UTC)
		b := session.Budget{MaxConcurrent: 2, MaxDailyTenant: 4, MaxDailyAgent: 3, DayStart: at.Truncate(24 * time.Hour)}

		first := newSession("t1", "a1", at)
		if err := s.Reserve(ctx, first, b); err != nil {
			t.Fatal(err)
		}
		// A reservation is not listed, but is found by ID and token.
		if list, _ := s.List(ctx, "t1", session.Filter{}); len(list) != 0 {
			t.Errorf("list shows a reservation: %v", list)
		}
		got, err := s.ByTokenHash(ctx, first.TokenHash)
		if err != nil || got.ID != first.ID || got.Status != session.StatusCreating {
			t.Fatalf("by token: %+v, %v", got, err)
		}
		// A released reservation stops counting.
		second := newSession("t1", "a1", at)
		if err := s.Reserve(ctx, second, b); err != nil {
			t.Fatal(err)
		}
		if err := s.Reserve(ctx, newSession("t1", "a1", at), b); !vargate.IsKind(err, vargate.KindRateLimited) {
			t.Fatalf("third concurrent: %v, want rate limited", err)
		}
		if err := s.Release(ctx, "t1", second.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "t1", second.ID); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("released reservation still there: %v", err)
		}

		first.Account, first.AnthropicSessionID, first.SystemPromptHash, first.UpdatedAt = "acct", "sesn_1", "sha256:ab", at.Add(time.Second)
		if err := s.Prepare(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusCreating},
			To: session.StatusActive, At: at.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Prepare(ctx, first); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("prepare of an active session: %v", err)
		}
		if err := s.Release(ctx, "t1", first.ID); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("release of an active session: %v", err)
		}
		got, _ = s.Get(ctx, "t1", first.ID)
		if got.Status != session.StatusActive || got.AnthropicSessionID != "sesn_1" || got.SystemPromptHash != "sha256:ab" ||
			len(got.DelegationChain) != 1 || !got.ExpiresAt.Equal(at.Add(time.Hour)) {
			t.Errorf("after activate: %+v", got)
		}
		if _, err := s.Get(ctx, "t2", first.ID); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("get through another tenant: %v", err)
		}

		// Completed frees the slot; reactivating takes the lock and the budget.
		done, err := s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusActive},
			To: session.StatusCompleted, At: at.Add(2 * time.Second), StopReason: "end_turn"})
		if err != nil || done.Status != session.StatusCompleted || done.StopReason != "end_turn" || done.EndedAt == nil || !done.EndedAt.Equal(at.Add(2*time.Second)) {
			t.Fatalf("complete: %+v, %v", done, err)
		}
		// Running again clears ended_at; completing again sets it anew.
		again, err := s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusCompleted},
			To: session.StatusActive, At: at.Add(3 * time.Second), MaxConcurrent: 2})
		if err != nil || again.EndedAt != nil {
			t.Fatalf("reactivate: %+v, %v", again, err)
		}
		done, err = s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusActive},
			To: session.StatusCompleted, At: at.Add(4 * time.Second), StopReason: "end_turn"})
		if err != nil || done.EndedAt == nil || !done.EndedAt.Equal(at.Add(4*time.Second)) {
			t.Fatalf("complete again: %+v, %v", done, err)
		}
		if _, err := s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusActive},
			To: session.StatusFailed, At: at}); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("transition from the wrong status: %v", err)
		}
		for range 2 {
			if err := s.Reserve(ctx, newSession("t1", "a1", at), b); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusCompleted},
			To: session.StatusActive, At: at, MaxConcurrent: 2}); !vargate.IsKind(err, vargate.KindRateLimited) {
			t.Errorf("reactivate over budget: %v", err)
		}
		// Daily limits count every session created today, ended or not.
		if err := s.Reserve(ctx, newSession("t1", "a1", at), session.Budget{MaxConcurrent: 100, MaxDailyAgent: 3, DayStart: b.DayStart}); !vargate.IsKind(err, vargate.KindRateLimited) {
			t.Errorf("fourth session of the agent today: %v", err)
		}
		if err := s.Reserve(ctx, newSession("t1", "a1", at.Add(24*time.Hour)), session.Budget{MaxConcurrent: 100, MaxDailyAgent: 3,
			DayStart: b.DayStart.Add(24 * time.Hour)}); err != nil {
			t.Errorf("next day: %v", err)
		}

		failed, err := s.Transition(ctx, session.Transition{TenantID: "t1", ID: first.ID, From: []session.Status{session.StatusCompleted},
			To: session.StatusFailed, At: at.Add(time.Minute), EndReason: "terminated upstream"})
		// A completed session that fails later ended when it completed.
		if err != nil || failed.EndedAt == nil || !failed.EndedAt.Equal(at.Add(4*time.Second)) || failed.EndReason != "terminated upstream" || failed.StopReason != "end_turn" {
			t.Errorf("fail: %+v, %v", failed, err)
		}

		due, err := s.Due(ctx, at.Add(time.Hour), 10)
		if err != nil || len(due) != 1 || due[0].ID != first.ID {
			t.Errorf("due = %v, %v; want only the activated session", due, err)
		}
		if err := s.MarkCleaned(ctx, "t1", first.ID, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if due, _ := s.Due(ctx, at.Add(time.Hour), 10); len(due) != 0 {
			t.Errorf("due after cleaning = %v", due)
		}
		stale, _ := s.StaleReservations(ctx, at.Add(time.Minute), 10)
		if len(stale) != 2 {
			t.Errorf("stale reservations = %d, want 2", len(stale))
		}
	})
}

func TestSessionCountersFromAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := sessionFixture(t, db)
		ctx := t.Context()
		signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
		if err != nil {
			t.Fatal(err)
		}
		log := audit.New(sqlstore.NewAuditStore(db), signer)
		log.CheckpointInterval = -1
		if err := log.Open(); err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		recs := []audit.Record{
			{Source: audit.SourceControlPlane, SessionID: "vs-1", Decision: "session.created"},
			{Source: audit.SourceMCPGoverned, SessionID: "vs-1", ActionID: "act-1", Tool: "search", Decision: "allow"},
			{Source: audit.SourceMCPGoverned, SessionID: "vs-1", ActionID: "act-1", Tool: "search", Decision: "executed"},
			{Source: audit.SourceMCPGoverned, SessionID: "vs-1", ActionID: "act-2", Tool: "email", Decision: "deny"},
			{Source: audit.SourceMCPGoverned, SessionID: "vs-1", Tool: "x", Decision: "allow"},
			{Source: audit.SourceMCPObserved, SessionID: "vs-1", ActionID: "sevt_1", Tool: "bash", Decision: "observed"},
			{Source: audit.SourceMCPObserved, SessionID: "vs-1", ActionID: "sevt_2", Tool: "bash", Decision: "deny"},
			{Source: audit.SourceMCPGoverned, SessionID: "vs-2", ActionID: "act-3", Tool: "search", Decision: "deny"},
		}
		for _, r := range recs {
			r.TenantID = "t1"
			if _, err := log.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := log.Append(ctx, audit.Record{TenantID: "t2", Source: audit.SourceMCPGoverned, SessionID: "vs-1", ActionID: "z", Decision: "deny"}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Counters(ctx, "t1", "vs-1")
		if err != nil {
			t.Fatal(err)
		}
		if want := (session.Counters{GovernedCalls: 3, ObservedCalls: 2, Denied: 2}); c != want {
			t.Errorf("counters = %+v, want %+v", c, want)
		}
		page, err := s.Audit(ctx, "t1", "vs-1", 0, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 3 || page[0].Decision != "session.created" || page[0].Seq >= page[1].Seq {
			t.Fatalf("first page = %+v", page)
		}
		rest, _ := s.Audit(ctx, "t1", "vs-1", page[2].Seq, 100)
		if len(rest) != 4 || rest[3].Source != audit.SourceMCPObserved {
			t.Errorf("second page = %d records", len(rest))
		}
	})
}

func TestSessionSettingsAndUpstream(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := sessionFixture(t, db)
		ctx := t.Context()
		st, err := s.Settings(ctx, "t1")
		if err != nil || st.GovernanceTemplate != nil || st.MaxConcurrent != nil {
			t.Fatalf("empty settings = %+v, %v", st, err)
		}
		tmpl, n := "Be good. {session_id}", 3
		at := time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC)
		if err := s.SaveSettings(ctx, session.Settings{TenantID: "t1", GovernanceTemplate: &tmpl, MaxConcurrent: &n, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		st, _ = s.Settings(ctx, "t1")
		if st.GovernanceTemplate == nil || *st.GovernanceTemplate != tmpl || st.MaxConcurrent == nil || *st.MaxConcurrent != 3 || st.MaxDaily != nil {
			t.Errorf("settings = %+v", st)
		}
		if err := s.SaveSettings(ctx, session.Settings{TenantID: "t1", UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if st, _ = s.Settings(ctx, "t1"); st.GovernanceTemplate != nil || st.MaxConcurrent != nil {
			t.Errorf("cleared settings = %+v", st)
		}

		if _, err := s.Mirror(ctx, "a1", "acct"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("missing upstream: %v", err)
		}
		u := session.Mirror{AgentID: "a1", Account: "acct", ConfigVersion: 1, AnthropicAgentID: "agent_1", AnthropicVersion: 1,
			EnvironmentID: "env_1", EnvironmentHash: "h", UpdatedAt: at}
		if err := s.SaveMirror(ctx, u); err != nil {
			t.Fatal(err)
		}
		u.ConfigVersion, u.AnthropicVersion = 2, 2
		if err := s.SaveMirror(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := s.Mirror(ctx, "a1", "acct")
		if err != nil || got != u {
			t.Errorf("upstream = %+v, %v", got, err)
		}

		sess := newSession("t1", "a1", at)
		if err := s.Reserve(ctx, sess, session.Budget{MaxConcurrent: 5}); err != nil {
			t.Fatal(err)
		}
		if sent, _ := s.NoticeSent(ctx, sess.ID, "act-1", "executed"); sent {
			t.Error("notice sent before recording")
		}
		for range 2 {
			if err := s.RecordNotice(ctx, sess.ID, "act-1", "executed", at); err != nil {
				t.Fatal(err)
			}
		}
		if sent, _ := s.NoticeSent(ctx, sess.ID, "act-1", "executed"); !sent {
			t.Error("notice not recorded")
		}
	})
}
