package sqlstore_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func TestAgentStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 14, 30, 0, 123000, time.UTC)
		as := sqlstore.NewAuthStore(db)
		for _, id := range []string{"tenant-a", "tenant-b"} {
			if err := as.CreateTenant(ctx, auth.Tenant{ID: id, Name: id, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		s := sqlstore.NewAgentStore(db)
		v1 := agent.Config{
			ID: "agent-000000000001", TenantID: "tenant-a", Version: 1, Name: "Research Assistant",
			AnthropicModel: "claude-sonnet-4-6", SystemPrompt: "You research.",
			AllowedTools: []string{"vargate_web_search", "vargate_send_email"}, RequireHumanApproval: []string{"vargate_send_*"},
			MaxSessionHours: 2.5, MaxDailySessions: 20, MaxDelegationDepth: 2,
			GovernanceProfile:    agent.GovernanceProfile{RiskLevel: "strict", PIIDetection: true, Network: "limited", AllowedDomains: []string{"*.example.com"}},
			GovernedBuiltinTools: []string{"bash"}, CreatedAt: at, UpdatedAt: at, CreatedBy: "key-1",
		}
		if err := s.Create(ctx, v1); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "tenant-a", v1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v1, got); diff != "" {
			t.Errorf("get (-want +got):\n%s", diff)
		}
		if _, err := s.Get(ctx, "tenant-b", v1.ID); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("get through another tenant: %v, want not found", err)
		}

		v2 := v1
		v2.Version, v2.Name, v2.UpdatedAt, v2.AllowedTools = 2, "Renamed", at.Add(time.Hour), []string{}
		v2.GovernanceProfile.PIIDetection = false
		if err := s.Update(ctx, v2); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, v2); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("second update from version 1: %v, want conflict", err)
		}
		got, _ = s.Get(ctx, "tenant-a", v1.ID)
		if diff := cmp.Diff(v2, got); diff != "" {
			t.Errorf("after update (-want +got):\n%s", diff)
		}
		old, err := s.GetVersion(ctx, "tenant-a", v1.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v1, old); diff != "" {
			t.Errorf("version 1 after update (-want +got):\n%s", diff)
		}
		if _, err := s.GetVersion(ctx, "tenant-a", v1.ID, 3); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("missing version: %v", err)
		}

		child := v1
		child.ID, child.ParentAgentID, child.CreatedAt, child.UpdatedAt = "agent-000000000002", v1.ID, at.Add(time.Minute), at.Add(time.Minute)
		if err := s.Create(ctx, child); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, "tenant-a", agent.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != child.ID || list[1].ID != v1.ID {
			t.Fatalf("list = %v, want child then parent", ids(list))
		}
		page, _ := s.List(ctx, "tenant-a", agent.Filter{Before: list[0].CreatedAt, BeforeID: list[0].ID})
		if len(page) != 1 || page[0].ID != v1.ID {
			t.Errorf("second page = %v", ids(page))
		}
		kids, _ := s.List(ctx, "tenant-a", agent.Filter{ParentAgentID: v1.ID})
		if len(kids) != 1 || kids[0].ID != child.ID {
			t.Errorf("children = %v", ids(kids))
		}
		if other, _ := s.List(ctx, "tenant-b", agent.Filter{}); len(other) != 0 {
			t.Errorf("tenant-b sees %v", ids(other))
		}

		arch, err := s.Archive(ctx, "tenant-a", v1.ID, at.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if arch.ArchivedAt == nil || !arch.ArchivedAt.Equal(at.Add(2*time.Hour)) {
			t.Errorf("archived_at = %v", arch.ArchivedAt)
		}
		if _, err := s.Archive(ctx, "tenant-b", v1.ID, at); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("archive through another tenant: %v", err)
		}
		v3 := v2
		v3.Version = 3
		if err := s.Update(ctx, v3); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("update of archived: %v, want conflict", err)
		}
		list, _ = s.List(ctx, "tenant-a", agent.Filter{})
		if len(list) != 1 {
			t.Errorf("list without archived = %v", ids(list))
		}
		list, _ = s.List(ctx, "tenant-a", agent.Filter{IncludeArchived: true})
		if len(list) != 2 {
			t.Errorf("list with archived = %v", ids(list))
		}
	})
}

func ids(cs []agent.Config) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
