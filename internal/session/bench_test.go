package session_test

import (
	"context"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// BenchmarkCreate measures a whole governed creation against the
// in-process simulator over HTTP: reservation, vault and credential,
// session, stream, audit record, first message (the environment and
// agent are made once and reused).
func BenchmarkCreate(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			e := newEnv(b, d)
			many := 100_000
			if _, err := e.svc.SaveSettings(b.Context(), session.Settings{TenantID: e.tenant, MaxConcurrent: &many}, "key-admin"); err != nil {
				b.Fatal(err)
			}
			cfg, err := e.agents.Create(b.Context(), e.tenant, "key-admin", agent.Params{Name: ptr("bench"), MaxDailySessions: ptr(100000)})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.svc.Create(b.Context(), session.CreateRequest{TenantID: e.tenant, AgentID: cfg.ID,
					UserMessage: "scenario:quick hi", Actor: "key-admin"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthenticateSessionToken measures the MCP server's per-call
// token check (one indexed read).
func BenchmarkAuthenticateSessionToken(b *testing.B) {
	e := newEnv(b, sqlstore.SQLite)
	cfg, err := e.agents.Create(b.Context(), e.tenant, "key-admin", agent.Params{Name: ptr("bench")})
	if err != nil {
		b.Fatal(err)
	}
	s, err := e.svc.Create(b.Context(), session.CreateRequest{TenantID: e.tenant, AgentID: cfg.ID,
		UserMessage: "scenario:slow hold", Actor: "key-admin"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.AuthenticateSessionToken(b.Context(), s.TokenHash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFactsReserve measures what a governed call of a session pays
// for its facts: the session's fixed facts from memory and one atomic
// counter reservation in the database, from parallel callers of one
// session (the worst case: one row).
func BenchmarkFactsReserve(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			f := &session.Facts{Sessions: &sessionsOf{m: map[string]session.Session{"vs-1": {ID: "vs-1", TenantID: "t1"}}},
				Counters: sqlstore.NewSessionStore(db)}
			p := vargate.Principal{TenantID: "t1", Role: vargate.RoleAgent, AgentID: "a", SessionID: "vs-1"}
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := f.For(context.Background(), p); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
