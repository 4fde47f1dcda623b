package sqlstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/tools"
)

func TestToolStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 14, 30, 0, 123000, time.UTC)
		as := sqlstore.NewAuthStore(db)
		for _, id := range []string{"tenant-a", "tenant-b"} {
			if err := as.CreateTenant(ctx, auth.Tenant{ID: id, Name: id, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		s := sqlstore.NewToolStore(db)
		lookup := tools.TenantTool{
			TenantID:    "tenant-a",
			Name:        "crm_lookup",
			Description: "Look up a contact",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`),
			Request: tools.RequestTemplate{Method: "GET", URL: "https://crm.example.com/contacts/{id}",
				Query: map[string]string{"fields": "name"}, Headers: map[string]string{"Accept": "application/json"}},
			Credential: &tools.CredentialRef{ToolID: "crm", In: "header", Param: "X-Api-Key"},
			ReadOnly:   true,
			CreatedAt:  at,
			CreatedBy:  "key-1",
		}
		post := tools.TenantTool{
			TenantID: "tenant-a", Name: "alpha_post", Description: "Post", InputSchema: json.RawMessage(`{"type":"object"}`),
			Request:   tools.RequestTemplate{Method: "POST", URL: "https://api.example.com/x", Body: json.RawMessage(`{"a":"{b}"}`)},
			CreatedAt: at, CreatedBy: "key-1",
		}
		for _, d := range []tools.TenantTool{lookup, post} {
			if err := s.CreateTenantTool(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateTenantTool(ctx, lookup); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("duplicate: got %v, want conflict", err)
		}
		got, err := s.TenantTool(ctx, "tenant-a", "crm_lookup")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(lookup, got); diff != "" {
			t.Errorf("tool (-want +got):\n%s", diff)
		}
		list, err := s.TenantTools(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "alpha_post" || list[1].Name != "crm_lookup" {
			t.Errorf("list = %+v, want alpha_post, crm_lookup", list)
		}
		if list[0].Credential != nil {
			t.Errorf("tool without credential read back with %+v", list[0].Credential)
		}
		if other, err := s.TenantTools(ctx, "tenant-b"); err != nil || len(other) != 0 {
			t.Errorf("other tenant sees %v, %v", other, err)
		}
		if _, err := s.TenantTool(ctx, "tenant-b", "crm_lookup"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("other tenant's get: %v, want not found", err)
		}
		if err := s.DeleteTenantTool(ctx, "tenant-b", "crm_lookup"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("other tenant's delete: %v, want not found", err)
		}
		if err := s.DeleteTenantTool(ctx, "tenant-a", "crm_lookup"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TenantTool(ctx, "tenant-a", "crm_lookup"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("after delete: %v, want not found", err)
		}
	})
}
