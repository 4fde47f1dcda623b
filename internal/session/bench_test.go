package session_test

import (
	"testing"

	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
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
