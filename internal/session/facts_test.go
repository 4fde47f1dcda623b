package session_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// sessionsOf answers SessionFor from a map, counting the reads.
type sessionsOf struct {
	mu    sync.Mutex
	m     map[string]session.Session
	reads int
}

func (s *sessionsOf) SessionFor(_ context.Context, p vargate.Principal) (session.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	sess, ok := s.m[p.SessionID]
	if !ok || sess.TenantID != p.TenantID {
		return session.Session{}, vargate.NotFound("session")
	}
	return sess, nil
}

// scores is an anomaly score source that counts its reads.
type scores struct {
	mu    sync.Mutex
	score float64
	reads int
}

func (s *scores) AnomalyScore(context.Context, string, string) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.score, nil
}

type failingCounter struct{}

func (failingCounter) ReserveCall(context.Context, string, string) (int, int, error) {
	return 0, 0, errors.New("database down")
}
func (failingCounter) CountDenial(context.Context, string, string) error {
	return errors.New("database down")
}

func (failingCounter) CallCounts(context.Context, string, string) (int, int, error) {
	return 0, 0, errors.New("database down")
}

// A session's facts: its age and delegation depth, its calls reserved one
// by one before each decision (so the policy sees the calls before this
// one), its denials as decided, and its anomaly score reused for ScoreTTL.
func TestFactsOfASession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		clk := &clock{}
		started := clk.Now().Add(-90 * time.Second)
		sessions := &sessionsOf{m: map[string]session.Session{
			"vs-1": {ID: "vs-1", TenantID: "t1", CreatedAt: started, DelegationChain: []string{"agent-root", "agent-sub"}},
		}}
		sc := &scores{score: 0.25}
		f := &session.Facts{Sessions: sessions, Counters: sqlstore.NewSessionStore(db), Scores: sc, Now: clk.Now, ScoreTTL: time.Hour}
		p := vargate.Principal{TenantID: "t1", Role: vargate.RoleAgent, AgentID: "agent-sub", SessionID: "vs-1"}

		decisions := []string{policy.Allow, policy.Deny, policy.RequireApproval, policy.Deny}
		for i, d := range decisions {
			got, err := f.For(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			wantDenials := 0
			for _, prev := range decisions[:i] {
				if prev == policy.Deny {
					wantDenials++
				}
			}
			want := session.CallerFacts{DelegationDepth: 1, Session: policy.Session{ID: "vs-1", AgeSeconds: got.Session.AgeSeconds,
				Calls: i, Denials: wantDenials, AnomalyScore: 0.25}}
			if got != want {
				t.Errorf("call %d: facts %+v, want %+v", i, got, want)
			}
			if got.Session.AgeSeconds < 90 || got.Session.AgeSeconds > 150 {
				t.Errorf("call %d: age %v s, want about 90", i, got.Session.AgeSeconds)
			}
			if err := f.Decided(ctx, "t1", "vs-1", d); err != nil {
				t.Fatal(err)
			}
		}
		if sessions.reads != 1 || sc.reads != 1 {
			t.Errorf("session read %d times, score %d times; want once each within the TTL", sessions.reads, sc.reads)
		}
		clk.Advance(2 * time.Hour)
		sc.mu.Lock()
		sc.score = 0.5
		sc.mu.Unlock()
		if got, err := f.For(ctx, p); err != nil || got.Session.AnomalyScore != 0.5 || got.Session.Calls != len(decisions) {
			t.Errorf("after the score TTL: %+v, %v; want the new score and %d calls", got, err, len(decisions))
		}

		// Re-evaluating a queued call reads the counters without moving
		// them, and does not count the call itself.
		for range 2 {
			got, err := f.Queued(ctx, p)
			if err != nil || got.Session.Calls != len(decisions) || got.Session.Denials != 2 {
				t.Errorf("queued call's facts: %+v, %v; want %d calls before it, 2 denials", got.Session, err, len(decisions))
			}
		}
		if got, err := f.For(ctx, p); err != nil || got.Session.Calls != len(decisions)+1 {
			t.Errorf("next call after re-evaluations: %+v, %v; want %d", got.Session, err, len(decisions)+1)
		}

		// An unknown session fails and reserves nothing; a store that
		// cannot reserve fails the call closed.
		if _, err := f.For(ctx, vargate.Principal{TenantID: "t2", Role: vargate.RoleAgent, AgentID: "a", SessionID: "vs-1"}); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("another tenant's session: %v, want not found", err)
		}
		broken := &session.Facts{Sessions: sessions, Counters: failingCounter{}, Now: clk.Now}
		if _, err := broken.For(ctx, p); err == nil {
			t.Error("a failed reservation gave facts, want an error")
		}
	})
}

// An agent key has no session: its facts are its delegation depth, read
// from the agent's chain.
func TestFactsOfAnAgentKey(t *testing.T) {
	db := storetest.Open(t, sqlstore.SQLite)
	ctx := t.Context()
	tn, err := auth.NewService(sqlstore.NewAuthStore(db)).CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	agents := agent.New(sqlstore.NewAgentStore(db), nil)
	name := "root"
	root, err := agents.Create(ctx, tn.ID, "key-admin", agent.Params{Name: &name, MaxDelegationDepth: ptr(2)})
	if err != nil {
		t.Fatal(err)
	}
	name = "sub"
	sub, err := agents.Create(ctx, tn.ID, "key-admin", agent.Params{Name: &name, ParentAgentID: &root.ID})
	if err != nil {
		t.Fatal(err)
	}
	f := &session.Facts{Agents: agents, Counters: failingCounter{}}
	for _, c := range []struct {
		id   string
		want int
	}{{root.ID, 0}, {sub.ID, 1}} {
		got, err := f.For(ctx, vargate.Principal{TenantID: tn.ID, Role: vargate.RoleAgent, AgentID: c.id, KeyID: "key-agent"})
		if err != nil || got.DelegationDepth != c.want || got.Session != (policy.Session{}) {
			t.Errorf("agent %s: %+v, %v; want depth %d and no session", c.id, got, err, c.want)
		}
	}
}
