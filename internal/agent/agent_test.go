package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) Append(_ context.Context, rec audit.Record) (audit.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return rec, nil
}

func newService(t *testing.T) (*agent.Service, *recorder) {
	t.Helper()
	db := storetest.Open(t, sqlstore.SQLite)
	as := sqlstore.NewAuthStore(db)
	for _, id := range []string{"t1", "t2"} {
		if err := as.CreateTenant(t.Context(), auth.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	return agent.New(sqlstore.NewAgentStore(db), rec), rec
}

func ptr[T any](v T) *T { return &v }

func TestCreateDefaults(t *testing.T) {
	s, rec := newService(t)
	c, err := s.Create(t.Context(), "t1", "key-1", agent.Params{Name: ptr("Research Assistant")})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != len("agent-")+12 || c.ID[:6] != "agent-" {
		t.Errorf("id = %q, want agent- and 12 hex digits", c.ID)
	}
	want := agent.Config{
		ID: c.ID, TenantID: "t1", Version: 1, Name: "Research Assistant", AnthropicModel: "claude-sonnet-4-6",
		MaxSessionHours: agent.DefaultMaxSessionHours, MaxDailySessions: agent.DefaultMaxDailySessions,
		MaxDelegationDepth: 1,
		GovernanceProfile:  agent.GovernanceProfile{RiskLevel: "standard", PIIDetection: true, Network: "limited"},
	}
	if c.AnthropicModel != want.AnthropicModel || c.MaxSessionHours != want.MaxSessionHours || c.MaxDailySessions != want.MaxDailySessions ||
		c.MaxDelegationDepth != 1 || c.GovernanceProfile.RiskLevel != "standard" || !c.GovernanceProfile.PIIDetection ||
		c.GovernanceProfile.Network != "limited" || c.AllowedTools == nil {
		t.Errorf("defaults = %+v", c)
	}
	if len(rec.recs) != 1 || rec.recs[0].Source != audit.SourceControlPlane || rec.recs[0].AgentID != c.ID || rec.recs[0].Actor != "key-1" {
		t.Fatalf("audit = %+v", rec.recs)
	}
	var detail struct {
		Event string         `json:"event"`
		Agent map[string]any `json:"agent"`
	}
	if err := json.Unmarshal(rec.recs[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Event != "agent.created" || detail.Agent["name"] != "Research Assistant" || detail.Agent["version"] != float64(1) {
		t.Errorf("audit detail = %s", rec.recs[0].Detail)
	}
}

func TestValidation(t *testing.T) {
	s, _ := newService(t)
	long := make([]byte, agent.MaxNameChars+1)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name  string
		p     agent.Params
		field string
	}{
		{"name missing", agent.Params{}, "name"},
		{"name blank", agent.Params{Name: ptr("  ")}, "name"},
		{"name too long", agent.Params{Name: ptr(string(long))}, "name"},
		{"model empty", agent.Params{AnthropicModel: ptr("")}, "anthropic_model"},
		{"model with space", agent.Params{AnthropicModel: ptr("claude sonnet")}, "anthropic_model"},
		{"hours below", agent.Params{MaxSessionHours: ptr(0.09)}, "max_session_hours"},
		{"hours above", agent.Params{MaxSessionHours: ptr(24.01)}, "max_session_hours"},
		{"hours NaN", agent.Params{MaxSessionHours: ptr(math.NaN())}, "max_session_hours"},
		{"daily zero", agent.Params{MaxDailySessions: ptr(0)}, "max_daily_sessions"},
		{"depth zero", agent.Params{MaxDelegationDepth: ptr(0)}, "max_delegation_depth"},
		{"depth six", agent.Params{MaxDelegationDepth: ptr(6)}, "max_delegation_depth"},
		{"tool name", agent.Params{AllowedTools: ptr([]string{"send email"})}, "allowed_tools[0]"},
		{"tool twice", agent.Params{AllowedTools: ptr([]string{"a", "a"})}, "allowed_tools[1]"},
		{"bad pattern", agent.Params{RequireHumanApproval: ptr([]string{"vargate_[send"})}, "require_human_approval[0]"},
		{"bad allowed pattern", agent.Params{AllowedTools: ptr([]string{"github__[x"})}, "allowed_tools[0]"},
		{"risk level", agent.Params{GovernanceProfile: &agent.ProfileParams{RiskLevel: ptr("yolo")}}, "governance_profile.risk_level"},
		{"network type", agent.Params{GovernanceProfile: &agent.ProfileParams{Network: ptr("open")}}, "governance_profile.network_access.type"},
		{"domain with scheme", agent.Params{GovernanceProfile: &agent.ProfileParams{AllowedDomains: ptr([]string{"https://example.com"})}}, "governance_profile.network_access.allowed_domains[0]"},
		{"domain with port", agent.Params{GovernanceProfile: &agent.ProfileParams{AllowedDomains: ptr([]string{"example.com:443"})}}, "governance_profile.network_access.allowed_domains[0]"},
		{"domains when unrestricted", agent.Params{GovernanceProfile: &agent.ProfileParams{Network: ptr("unrestricted"), AllowedDomains: ptr([]string{"example.com"})}}, "governance_profile.network_access.allowed_domains"},
		{"builtin unknown", agent.Params{GovernedBuiltinTools: ptr([]string{"shell"})}, "governed_builtin_tools[0]"},
		{"parent missing", agent.Params{ParentAgentID: ptr("agent-ffffffffffff")}, "parent_agent_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			if p.Name == nil && tt.field != "name" {
				p.Name = ptr("ok")
			}
			_, err := s.Create(t.Context(), "t1", "key-1", p)
			var ve *vargate.Error
			if !vargate.IsKind(err, vargate.KindInvalid) || !asError(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
	good := agent.Params{
		Name: ptr("ok"), MaxSessionHours: ptr(0.1), MaxDailySessions: ptr(1), MaxDelegationDepth: ptr(5),
		RequireHumanApproval: ptr([]string{"vargate_send_*", "vargate_?ay", "[a-c]*"}),
		GovernanceProfile:    &agent.ProfileParams{AllowedDomains: ptr([]string{"api.example.com", "*.example.org"})},
		GovernedBuiltinTools: ptr([]string{"bash", "web_fetch"}),
	}
	if _, err := s.Create(t.Context(), "t1", "key-1", good); err != nil {
		t.Errorf("edge values rejected: %v", err)
	}
	good.MaxSessionHours = ptr(24.0)
	if _, err := s.Create(t.Context(), "t1", "key-1", good); err != nil {
		t.Errorf("24 hours rejected: %v", err)
	}
}

func asError(err error, target **vargate.Error) bool { return errors.As(err, target) }

func TestUpdateVersionsAndArchive(t *testing.T) {
	s, rec := newService(t)
	ctx := t.Context()
	c, err := s.Create(ctx, "t1", "key-1", agent.Params{Name: ptr("a"), AllowedTools: ptr([]string{"x"})})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.Update(ctx, "t1", c.ID, "key-2", agent.Params{MaxDailySessions: ptr(3), GovernanceProfile: &agent.ProfileParams{RiskLevel: ptr("strict")}})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Version != 2 || c2.MaxDailySessions != 3 || c2.GovernanceProfile.RiskLevel != "strict" || !c2.GovernanceProfile.PIIDetection ||
		len(c2.AllowedTools) != 1 || !c2.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("version 2 = %+v", c2)
	}
	if _, err := s.Update(ctx, "t1", c.ID, "key-2", agent.Params{MaxSessionHours: ptr(30.0)}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("invalid update: %v", err)
	}
	v1, err := s.GetVersion(ctx, "t1", c.ID, 1)
	if err != nil || v1.MaxDailySessions != agent.DefaultMaxDailySessions {
		t.Errorf("version 1 = %+v, %v", v1, err)
	}
	if _, err := s.Update(ctx, "t2", c.ID, "key-9", agent.Params{Name: ptr("stolen")}); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("update through another tenant: %v", err)
	}
	if _, err := s.Archive(ctx, "t1", c.ID, "key-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Archive(ctx, "t1", c.ID, "key-1"); err != nil {
		t.Errorf("second archive: %v", err)
	}
	if _, err := s.Update(ctx, "t1", c.ID, "key-1", agent.Params{Name: ptr("b")}); !vargate.IsKind(err, vargate.KindConflict) {
		t.Errorf("update of archived: %v", err)
	}
	var events []string
	for _, r := range rec.recs {
		events = append(events, r.Decision)
	}
	if want := []string{"agent.created", "agent.updated", "agent.archived"}; !equal(events, want) {
		t.Errorf("audit events = %v, want %v", events, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDelegationDepth(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	root, err := s.Create(ctx, "t1", "k", agent.Params{Name: ptr("root"), MaxDelegationDepth: ptr(2)})
	if err != nil {
		t.Fatal(err)
	}
	child, err := s.Create(ctx, "t1", "k", agent.Params{Name: ptr("child"), ParentAgentID: ptr(root.ID), MaxDelegationDepth: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	// Two levels below root is what root allows, one below child what child allows.
	grand, err := s.Create(ctx, "t1", "k", agent.Params{Name: ptr("grandchild"), ParentAgentID: ptr(child.ID)})
	if err != nil {
		t.Fatalf("grandchild within both limits: %v", err)
	}
	chain, err := s.Chain(ctx, grand)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || chain[0].ID != root.ID || chain[2].ID != grand.ID {
		t.Errorf("chain = %v", chain)
	}
	// Three below root exceeds root's 2 even though the parent allows 1.
	if _, err := s.Create(ctx, "t1", "k", agent.Params{Name: ptr("too deep"), ParentAgentID: ptr(grand.ID)}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("great-grandchild: %v, want invalid", err)
	}
	// Another tenant's agent is not a parent.
	if _, err := s.Create(ctx, "t2", "k", agent.Params{Name: ptr("x"), ParentAgentID: ptr(root.ID)}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("cross-tenant parent: %v", err)
	}
	// A loop is refused.
	if _, err := s.Update(ctx, "t1", root.ID, "k", agent.Params{ParentAgentID: ptr(grand.ID)}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("loop: %v, want invalid", err)
	}
	// Tightening an ancestor makes the existing chain too deep.
	if _, err := s.Update(ctx, "t1", root.ID, "k", agent.Params{MaxDelegationDepth: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Chain(ctx, grand); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("chain after tightening the root: %v, want invalid", err)
	}
}

// Allows matches allowed_tools as the base policy does: exact names and
// glob patterns.
func TestConfigAllows(t *testing.T) {
	c := agent.Config{AllowedTools: []string{"vargate_web_search", "github__*", "crm_[ab]"}}
	for tool, want := range map[string]bool{
		"vargate_web_search": true, "vargate_send_email": false, "github__create_issue": true,
		"github_create": false, "crm_a": true, "crm_c": false, "": false,
	} {
		if got := c.Allows(tool); got != want {
			t.Errorf("Allows(%q) = %v, want %v", tool, got, want)
		}
	}
}
