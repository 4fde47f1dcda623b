package vault_test

import (
	"bytes"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// TestSealOpen checks the sealing of non-credential data (approval
// arguments, webhook secrets): it round-trips for the same tenant and
// purpose, survives a KEK rotation, and opens for nothing else.
func TestSealOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		plain := []byte(`{"to":"team@example.com"}`)
		sealed, err := f.v.Seal(ctx, "tenant-a", "approval.args", plain)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("team@example.com")) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := f.v.Open(ctx, "tenant-a", "approval.args", sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v; want %q", got, err, plain)
		}
		if _, err := f.v.RotateKEK(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := f.v.Open(ctx, "tenant-a", "approval.args", sealed); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Open after KEK rotation = %q, %v", got, err)
		}

		tampered := bytes.Clone(sealed)
		tampered[len(tampered)-1] ^= 1
		for _, c := range []struct {
			name, tenant, purpose string
			sealed                []byte
		}{
			{"other purpose", "tenant-a", "webhook.secret", sealed},
			{"other tenant", "tenant-b", "approval.args", sealed},
			{"tampered", "tenant-a", "approval.args", tampered},
			{"truncated", "tenant-a", "approval.args", sealed[:10]},
		} {
			if got, err := f.v.Open(ctx, c.tenant, c.purpose, c.sealed); err == nil {
				t.Errorf("%s: opened to %q", c.name, got)
			}
		}
		if _, err := f.v.Seal(ctx, "tenant-a", "", plain); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("Seal without purpose: %v, want invalid", err)
		}
	})
}
