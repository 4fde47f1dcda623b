package sqlstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

func TestVaultStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 14, 30, 0, 123000, time.UTC)
		as := sqlstore.NewAuthStore(db)
		for _, id := range []string{"tenant-a", "tenant-b"} {
			if err := as.CreateTenant(ctx, auth.Tenant{ID: id, Name: id, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		s := sqlstore.NewVaultStore(db)

		// Data keys: one per tenant.
		if _, err := s.DataKey(ctx, "tenant-a"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Fatalf("data key before creation: got %v, want not found", err)
		}
		dka := vault.DataKey{ID: "dek-a", TenantID: "tenant-a", KEKID: "local:1", Wrapped: []byte{1, 2, 3}, CreatedAt: at}
		if err := s.CreateDataKey(ctx, dka); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDataKey(ctx, vault.DataKey{ID: "dek-a2", TenantID: "tenant-a", KEKID: "local:1", Wrapped: []byte{4}, CreatedAt: at}); !vargate.IsKind(err, vargate.KindConflict) {
			t.Fatalf("second data key for a tenant: got %v, want conflict", err)
		}
		if err := s.CreateDataKey(ctx, vault.DataKey{ID: "dek-b", TenantID: "tenant-b", KEKID: "local:2", Wrapped: []byte{5}, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		got, err := s.DataKey(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(dka, got); diff != "" {
			t.Errorf("data key (-want +got):\n%s", diff)
		}

		// Rewrap is a compare-and-swap on the old KEK.
		todo, err := s.DataKeysNotUnder(ctx, "local:2", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(todo) != 1 || todo[0].ID != "dek-a" {
			t.Fatalf("DataKeysNotUnder(local:2) = %+v, want dek-a only", todo)
		}
		if ok, err := s.RewrapDataKey(ctx, "dek-a", "local:9", []byte{9}, "local:2", at); err != nil || ok {
			t.Errorf("rewrap from the wrong KEK: ok=%v err=%v, want no change", ok, err)
		}
		if ok, err := s.RewrapDataKey(ctx, "dek-a", "local:1", []byte{7, 7}, "local:2", at.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("rewrap: ok=%v err=%v", ok, err)
		}
		usage, err := s.KEKUsage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]vault.KEKUsage{{KEKID: "local:2", DataKeys: 2}}, usage); diff != "" {
			t.Errorf("KEK usage after rewrap (-want +got):\n%s", diff)
		}
		got, _ = s.DataKey(ctx, "tenant-a")
		if got.KEKID != "local:2" || string(got.Wrapped) != "\x07\x07" || got.RewrappedAt == nil {
			t.Errorf("after rewrap: %+v", got)
		}

		// Credentials: versions, supersession, isolation.
		meta := func(id string, at time.Time) vault.Metadata {
			return vault.Metadata{ID: id, TenantID: "tenant-a", ToolID: "anthropic", Name: "default",
				Type: vault.TypeAPIKey, State: vault.StateActive, Fingerprint: "fp" + id, CreatedAt: at}
		}
		var sealedFor []int
		seal := func(value string) func(vault.Metadata) []byte {
			return func(m vault.Metadata) []byte {
				sealedFor = append(sealedFor, m.Version)
				return []byte(value)
			}
		}
		c1, err := s.InsertCredential(ctx, meta("cred-1", at), "dek-a", seal("sealed-1"))
		if err != nil {
			t.Fatal(err)
		}
		if c1.Version != 1 {
			t.Errorf("first version = %d", c1.Version)
		}
		if _, err := s.InsertCredential(ctx, meta("cred-1", at), "dek-a", seal("x")); !vargate.IsKind(err, vargate.KindConflict) {
			t.Fatalf("duplicate ID: got %v, want conflict", err)
		}
		if _, err := s.InsertCredential(ctx, meta("cred-x", at), "dek-b", seal("x")); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Fatalf("another tenant's data key: got %v, want not found", err)
		}
		active, err := s.ActiveCredential(ctx, "tenant-a", "anthropic", "default")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(vault.Sealed{Metadata: c1, DataKeyID: "dek-a", Value: []byte("sealed-1")}, active); diff != "" {
			t.Errorf("active credential (-want +got):\n%s", diff)
		}
		later := at.Add(time.Minute)
		c2, err := s.InsertCredential(ctx, meta("cred-2", later), "dek-a", seal("sealed-2"))
		if err != nil {
			t.Fatal(err)
		}
		if c2.Version != 2 || sealedFor[len(sealedFor)-1] != 2 {
			t.Errorf("second version = %d, sealed for %v; want 2 both", c2.Version, sealedFor)
		}
		old, err := s.Credential(ctx, "tenant-a", "cred-1")
		if err != nil {
			t.Fatal(err)
		}
		if old.State != vault.StateSuperseded || old.DestroyedAt == nil || !old.DestroyedAt.Equal(later) {
			t.Errorf("version 1 after rotation: %+v, want superseded at %v", old, later)
		}
		var sealed []byte
		if err := db.QueryRowContext(ctx, `SELECT sealed FROM vault_credentials WHERE id = 'cred-1'`).Scan(&sealed); err != nil || sealed != nil {
			t.Errorf("superseded sealed value = %q (err %v), want NULL", sealed, err)
		}
		list, err := s.ListCredentials(ctx, "tenant-a", vault.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != "cred-2" {
			t.Errorf("active list = %+v, want cred-2 only", list)
		}
		all, _ := s.ListCredentials(ctx, "tenant-a", vault.Filter{All: true, ToolID: "anthropic"})
		if len(all) != 2 || all[0].Version != 2 || all[1].Version != 1 {
			t.Errorf("full history = %+v, want versions 2, 1", all)
		}
		if none, _ := s.ListCredentials(ctx, "tenant-a", vault.Filter{ToolID: "smtp"}); len(none) != 0 {
			t.Errorf("filter by another tool = %+v", none)
		}

		// Tenant B sees nothing of A's.
		if l, _ := s.ListCredentials(ctx, "tenant-b", vault.Filter{All: true}); len(l) != 0 {
			t.Errorf("tenant B lists %+v", l)
		}
		if _, err := s.Credential(ctx, "tenant-b", "cred-2"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("tenant B gets A's credential: %v", err)
		}
		if _, err := s.ActiveCredential(ctx, "tenant-b", "anthropic", "default"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("tenant B uses A's credential: %v", err)
		}
		if _, err := s.DeleteCredential(ctx, "tenant-b", "cred-2", later); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("tenant B deletes A's credential: %v", err)
		}
		if err := s.TouchCredential(ctx, "tenant-b", "cred-2", later); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("tenant B touches A's credential: %v", err)
		}

		if err := s.TouchCredential(ctx, "tenant-a", "cred-2", later); err != nil {
			t.Fatal(err)
		}
		gone := later.Add(time.Minute)
		m, err := s.DeleteCredential(ctx, "tenant-a", "cred-2", gone)
		if err != nil {
			t.Fatal(err)
		}
		if m.State != vault.StateDeleted || m.LastUsedAt == nil || !m.LastUsedAt.Equal(later) || m.DestroyedAt == nil || !m.DestroyedAt.Equal(gone) {
			t.Errorf("deleted = %+v", m)
		}
		if _, err := s.ActiveCredential(ctx, "tenant-a", "anthropic", "default"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("active after delete: %v, want not found", err)
		}
		again, err := s.DeleteCredential(ctx, "tenant-a", "cred-2", gone.Add(time.Hour))
		if err != nil || !again.DestroyedAt.Equal(gone) {
			t.Errorf("second delete: %+v, %v; want unchanged", again, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT sealed FROM vault_credentials WHERE id = 'cred-2'`).Scan(&sealed); err != nil || sealed != nil {
			t.Errorf("deleted sealed value = %q (err %v), want NULL", sealed, err)
		}
		// After deletion, a new registration continues the version sequence.
		c3, err := s.InsertCredential(ctx, meta("cred-3", gone), "dek-a", seal("sealed-3"))
		if err != nil || c3.Version != 3 {
			t.Errorf("registration after delete: version %d (%v), want 3", c3.Version, err)
		}
	})
}

// On SQLite, a deleted credential's sealed value is overwritten in the
// database file (secure_delete), not left in a free block of its page:
// after a checkpoint neither the file nor the WAL holds it.
func TestVaultDeleteLeavesNoCiphertextInSQLiteFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "vargate.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: "tenant-a", Name: "a", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	s := sqlstore.NewVaultStore(db)
	if err := s.CreateDataKey(ctx, vault.DataKey{ID: "dek-a", TenantID: "tenant-a", KEKID: "local:1", Wrapped: []byte{1}, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	canary := bytes.Repeat([]byte("SEALED-CANARY-"), 20)
	m, err := s.InsertCredential(ctx, vault.Metadata{ID: "cred-1", TenantID: "tenant-a", ToolID: "anthropic", Name: "default",
		Type: vault.TypeAPIKey, State: vault.StateActive, Fingerprint: "fp", CreatedAt: at}, "dek-a",
		func(vault.Metadata) []byte { return canary })
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := func() []byte {
		t.Helper()
		if _, err := db.Write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		var all []byte
		for _, p := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	if !bytes.Contains(checkpoint(), canary[:28]) {
		t.Fatal("the sealed value is not in the file before deletion: the test cannot see it")
	}
	if _, err := s.DeleteCredential(ctx, "tenant-a", m.ID, at); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(checkpoint(), canary[:28]) {
		t.Error("the deleted credential's sealed value is still in the database file")
	}
}
