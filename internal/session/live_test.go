package session_test

import (
	"strings"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
)

// An action may run only while its session works, its agent is not
// archived and the agent's current configuration allows the tool; the
// session's pinned configuration is refused once the session has ended.
func TestCheckLiveAndConfigFor(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			ctx := t.Context()
			cfg := e.newAgent(t, agent.Params{})
			s, err := e.create(t, e.svc, cfg.ID, "Research and email.")
			if err != nil {
				t.Fatal(err)
			}
			p := vargate.Principal{TenantID: e.tenant, Role: vargate.RoleAgent, AgentID: cfg.ID, SessionID: s.ID, KeyID: s.TokenID}
			live := func(tool, want string) {
				t.Helper()
				reason, err := e.svc.CheckLive(ctx, p, tool)
				if err != nil || !strings.HasPrefix(reason, want) || (want == "") != (reason == "") {
					t.Errorf("CheckLive(%s) = %q, %v; want %q…", tool, reason, err, want)
				}
			}
			live("vargate_send_email", "")

			// Narrowing allowed_tools refuses the tool at once, although
			// the session keeps its pinned version.
			if _, err := e.agents.Update(ctx, e.tenant, cfg.ID, "key-admin", agent.Params{AllowedTools: ptr([]string{"vargate_web_search"})}); err != nil {
				t.Fatal(err)
			}
			live("vargate_send_email", session.ReasonToolNotAllowed)
			live("vargate_web_search", "")
			if c, err := e.svc.ConfigFor(ctx, p); err != nil || c.Version != 1 {
				t.Errorf("ConfigFor of a live session = v%d, %v; want the pinned v1", c.Version, err)
			}

			// An interrupted session's actions are cancelled, and its
			// pinned configuration no longer governs anything.
			if _, _, err := e.svc.Interrupt(ctx, e.tenant, s.ID, "stop", "key-admin"); err != nil {
				t.Fatal(err)
			}
			live("vargate_web_search", session.ReasonSessionEnded)
			if _, err := e.svc.ConfigFor(ctx, p); !vargate.IsKind(err, vargate.KindForbidden) {
				t.Errorf("ConfigFor of an interrupted session: %v, want forbidden", err)
			}

			// An agent key's actions stop with the agent's archive.
			kp := vargate.Principal{TenantID: e.tenant, Role: vargate.RoleAgent, AgentID: cfg.ID, KeyID: "key-agent"}
			keyLive := func(tool, want string) {
				t.Helper()
				reason, err := e.svc.CheckLive(ctx, kp, tool)
				if err != nil || !strings.HasPrefix(reason, want) || (want == "") != (reason == "") {
					t.Errorf("CheckLive(%s) by key = %q, %v; want %q…", tool, reason, err, want)
				}
			}
			keyLive("vargate_web_search", "")
			if _, err := e.agents.Archive(ctx, e.tenant, cfg.ID, "key-admin"); err != nil {
				t.Fatal(err)
			}
			keyLive("vargate_web_search", session.ReasonAgentArchived)
		})
	}
}

// A glob in allowed_tools allows the tools it matches, as the policy's
// tool_allowed rule does.
func TestCheckLiveGlob(t *testing.T) {
	e := newEnv(t, sqlstore.SQLite)
	cfg := e.newAgent(t, agent.Params{AllowedTools: ptr([]string{"github__*"})})
	p := vargate.Principal{TenantID: e.tenant, Role: vargate.RoleAgent, AgentID: cfg.ID, KeyID: "key-agent"}
	for tool, want := range map[string]string{"github__create_issue": "", "gitlab__create_issue": session.ReasonToolNotAllowed} {
		reason, err := e.svc.CheckLive(t.Context(), p, tool)
		if err != nil || !strings.HasPrefix(reason, want) || (want == "") != (reason == "") {
			t.Errorf("CheckLive(%s) = %q, %v; want %q…", tool, reason, err, want)
		}
	}
}
