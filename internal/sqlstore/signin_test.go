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

// Sign-in sessions: stored and read back whole, touched only forward,
// deleted, and expired ones swept when a new one is created.
func TestSigninStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: "tenant-a", Name: "acme", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.NewSigninStore(db)
		mk := func(id string, created, seen time.Time) auth.Signin {
			return auth.Signin{ID: id, Principal: vargate.Principal{TenantID: "tenant-a", Role: vargate.RoleApprover, KeyID: "key-" + id},
				Tenant: "acme", KeyHash: []byte{1, 2, 3}, CSRF: "csrf-" + id, CreatedAt: created, LastSeen: seen}
		}
		old := mk("old", at, at)
		if err := s.CreateSignin(ctx, old, at.Add(-time.Hour), at.Add(-12*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Signin(ctx, "old")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(old, got); diff != "" {
			t.Errorf("sign-in (-want +got):\n%s", diff)
		}
		if err := s.TouchSignin(ctx, "old", at.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSignin(ctx, "old", at.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Signin(ctx, "old"); !got.LastSeen.Equal(at.Add(10 * time.Minute)) {
			t.Errorf("last seen %v, want the later touch", got.LastSeen)
		}
		// A new sign-in an hour after "old" was last seen sweeps it.
		later := at.Add(70 * time.Minute)
		if err := s.CreateSignin(ctx, mk("new", later, later), later.Add(-30*time.Minute), later.Add(-12*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signin(ctx, "old"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("expired sign-in: %v, want not found", err)
		}
		if err := s.DeleteSignin(ctx, "new"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signin(ctx, "new"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("deleted sign-in: %v, want not found", err)
		}
		if err := s.DeleteSignin(ctx, "never"); err != nil {
			t.Errorf("deleting an unknown sign-in: %v", err)
		}
	})
}
