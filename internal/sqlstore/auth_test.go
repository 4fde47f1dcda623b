package sqlstore_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func TestAuthStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := sqlstore.NewAuthStore(db)
		at := time.Date(2026, 4, 11, 14, 30, 0, 123000, time.UTC)
		acme := auth.Tenant{ID: "tenant-a", Name: "acme", CreatedAt: at}
		if err := s.CreateTenant(ctx, acme); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTenant(ctx, auth.Tenant{ID: "tenant-b", Name: "acme", CreatedAt: at}); !vargate.IsKind(err, vargate.KindConflict) {
			t.Fatalf("duplicate tenant name: got %v, want conflict", err)
		}
		got, err := s.GetTenantByName(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(acme, got); diff != "" {
			t.Errorf("tenant (-want +got):\n%s", diff)
		}
		if _, err := s.GetTenant(ctx, "nope"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("missing tenant: got %v, want not found", err)
		}

		k := auth.APIKey{ID: "key-1", TenantID: "tenant-a", Role: vargate.RoleApprover, Prefix: "vgk_abcdef", Hash: auth.HashToken("vgk_secret"), CreatedAt: at}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateKey(ctx, auth.APIKey{ID: "key-x", TenantID: "no-such-tenant", Role: vargate.RoleAdmin, Prefix: "p", Hash: []byte("h"), CreatedAt: at}); err == nil {
			t.Error("key of a missing tenant was accepted")
		}
		gotK, err := s.KeyByHash(ctx, auth.HashToken("vgk_secret"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(k, gotK); diff != "" {
			t.Errorf("key (-want +got):\n%s", diff)
		}
		if err := s.RevokeKey(ctx, "tenant-b", "key-1", at); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("revoke through another tenant: got %v, want not found", err)
		}
		later := at.Add(time.Hour)
		if err := s.RevokeKey(ctx, "tenant-a", "key-1", later); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, "tenant-a", "key-1", later.Add(time.Hour)); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		keys, err := s.ListKeys(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0].RevokedAt == nil || !keys[0].RevokedAt.Equal(later) {
			t.Errorf("after revoke: %+v, want one key revoked at %v (first revoke wins)", keys, later)
		}
	})
}

func TestMigrateIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		applied, err := db.Applied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) == 0 || applied[0] != 1 {
			t.Fatalf("applied = %v, want versions starting at 1", applied)
		}
		ms := storetest.Migrations(t, db.Dialect)
		again, err := db.Migrate(ctx, ms)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != 0 {
			t.Errorf("second migrate applied %v, want nothing", again)
		}
		if err := db.CheckSchema(ctx, ms); err != nil {
			t.Errorf("CheckSchema after migrate: %v", err)
		}
		if err := db.CheckSchema(ctx, ms[:len(ms)-1]); !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("CheckSchema with a binary that knows fewer migrations: got %v, want refusal", err)
		}
		future := append(append([]sqlstore.Migration{}, ms...), sqlstore.Migration{Version: 999, Description: "future", SQL: "CREATE TABLE future_t (x INTEGER)"})
		if err := db.CheckSchema(ctx, future); !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("CheckSchema with an unapplied migration: got %v, want out of date", err)
		}
		var desc string
		if err := db.QueryRowContext(ctx, `SELECT description FROM schema_version WHERE version = 1`).Scan(&desc); err != nil {
			t.Fatal(err)
		}
		if desc != "tenants and api keys" {
			t.Errorf("description = %q", desc)
		}
	})
}
