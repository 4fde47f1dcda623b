package vault_test

import (
	"os"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

func TestRotateKEK(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		register(t, f.v, "tenant-a", "anthropic", "", vault.TypeAPIKey, "sk-ant-a")
		register(t, f.v, "tenant-b", "anthropic", "", vault.TypeAPIKey, "sk-ant-b")
		oldKEK, _ := f.keys.CurrentKEK(ctx)
		if err := f.v.Check(ctx); err != nil {
			t.Fatalf("Check before rotation: %v", err)
		}

		// A second gateway, already running with a warm cache, and the
		// rotating CLI with its own provider instance over the same file.
		running := f.v
		cliKeys, err := vault.OpenLocalKeyProvider(f.kekPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		cli := vault.New(sqlstore.NewVaultStore(db), cliKeys, f.audit, nil)
		rep, err := cli.RotateKEK(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.KEK == oldKEK || rep.Rewrapped != 2 || len(rep.Remaining) != 0 {
			t.Errorf("report = %+v, want 2 rewrapped to a new KEK, none remaining", rep)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vault_data_keys WHERE kek_id <> ?`, rep.KEK).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d data keys not under the new KEK (%v)", n, err)
		}

		// Everything still opens: the running gateway (warm cache), a
		// fresh vault on the running gateway's provider (which must notice
		// the new KEK), and new tenants' keys go under the new KEK.
		if got := use(t, running, "tenant-a", "anthropic", ""); got != "sk-ant-a" {
			t.Errorf("running gateway: %q", got)
		}
		cold := vault.New(sqlstore.NewVaultStore(db), f.keys, f.audit, nil)
		if got := use(t, cold, "tenant-b", "anthropic", ""); got != "sk-ant-b" {
			t.Errorf("cold vault after rotation: %q", got)
		}
		again, err := cli.Rewrap(ctx)
		if err != nil || again.Rewrapped != 0 {
			t.Errorf("second rewrap: %+v, %v; want nothing to do", again, err)
		}

		// The old KEK can now be retired: drop its line from the file.
		data, err := os.ReadFile(f.kekPath)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, oldKEK+" ") {
				kept = append(kept, line)
			}
		}
		if err := os.WriteFile(f.kekPath, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		retired, err := vault.OpenLocalKeyProvider(f.kekPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		rv := vault.New(sqlstore.NewVaultStore(db), retired, f.audit, nil)
		if err := rv.Check(ctx); err != nil {
			t.Errorf("Check after retiring the old KEK: %v", err)
		}
		if got := use(t, rv, "tenant-a", "anthropic", ""); got != "sk-ant-a" {
			t.Errorf("after retiring the old KEK: %q", got)
		}

		// A gateway pointed at the wrong key file is told so at start-up.
		wrongDir := t.TempDir()
		wrong, err := vault.OpenKeyProvider(ctx, vault.KeyProviderConfig{DataDir: wrongDir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wv := vault.New(sqlstore.NewVaultStore(db), wrong, f.audit, nil)
		if err := wv.Check(ctx); err == nil || !strings.Contains(err.Error(), rep.KEK) {
			t.Errorf("Check with the wrong key file: %v, want an error naming %s", err, rep.KEK)
		}
		if _, err := wv.Use(ctx, "tenant-a", "anthropic", "", purpose); err == nil {
			t.Error("Use with the wrong key file succeeded")
		}
	})
}
