package vault_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

// recorder is an Auditor that keeps what it is given and can be told to fail.
type recorder struct {
	mu   sync.Mutex
	got  []vault.Access
	fail error
}

func (r *recorder) RecordCredentialAccess(_ context.Context, a vault.Access) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, a)
	return nil
}

func (r *recorder) records() []vault.Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vault.Access(nil), r.got...)
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

// fixture is a vault over a fresh database with two tenants and a local
// key provider in a temporary directory.
type fixture struct {
	db      *sqlstore.DB
	v       *vault.Vault
	audit   *recorder
	keys    *vault.LocalKeyProvider
	kekPath string
}

func newFixture(t *testing.T, db *sqlstore.DB) *fixture {
	t.Helper()
	ctx := t.Context()
	as := sqlstore.NewAuthStore(db)
	for _, id := range []string{"tenant-a", "tenant-b"} {
		if err := as.CreateTenant(ctx, auth.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), vault.KEKFileName)
	keys, err := vault.OpenLocalKeyProvider(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return &fixture{db: db, v: vault.New(sqlstore.NewVaultStore(db), keys, rec, nil), audit: rec, keys: keys, kekPath: path}
}

// exec runs a statement directly against the database, as an attacker with
// write access to it would.
func (f *fixture) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	err := f.db.InTx(t.Context(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(t.Context(), query, args...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) sealed(t *testing.T, id string) []byte {
	t.Helper()
	var b []byte
	if err := f.db.QueryRowContext(t.Context(), `SELECT sealed FROM vault_credentials WHERE id = ?`, id).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

var purpose = vault.Purpose{ActionID: "act-1", SessionID: "vs-1", Actor: "agent-1"}

func register(t *testing.T, v *vault.Vault, tenant, tool, name string, typ vault.Type, value string) vault.Metadata {
	t.Helper()
	m, err := v.Register(t.Context(), tenant, vault.Registration{ToolID: tool, Name: name, Type: typ, Value: []byte(value)})
	if err != nil {
		t.Fatalf("register %s/%s: %v", tool, name, err)
	}
	return m
}

func use(t *testing.T, v *vault.Vault, tenant, tool, name string) string {
	t.Helper()
	s, err := v.Use(t.Context(), tenant, tool, name, purpose)
	if err != nil {
		t.Fatalf("use %s/%s: %v", tool, name, err)
	}
	return string(s.Reveal())
}

func TestRegisterListGetUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		m := register(t, f.v, "tenant-a", "anthropic", "", vault.TypeAPIKey, "sk-ant-api03-first")
		if m.Name != vault.DefaultName || m.Version != 1 || m.State != vault.StateActive || len(m.Fingerprint) != 16 || !strings.HasPrefix(m.ID, "cred-") {
			t.Errorf("registered metadata = %+v", m)
		}
		register(t, f.v, "tenant-a", "vargate_smtp", "", vault.TypeSMTP, `{"host":"mail.example.com","port":587,"username":"bot","password":"hunter2","from":"bot@example.com"}`)

		list, err := f.v.List(ctx, "tenant-a", vault.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ToolID != "anthropic" || list[1].ToolID != "vargate_smtp" {
			t.Errorf("list = %+v", list)
		}
		got, err := f.v.Get(ctx, "tenant-a", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt != nil {
			t.Errorf("last_used_at before use = %v", got.LastUsedAt)
		}

		s, err := f.v.Use(ctx, "tenant-a", "anthropic", "", purpose)
		if err != nil {
			t.Fatal(err)
		}
		if string(s.Reveal()) != "sk-ant-api03-first" || s.Source() != vault.SourceVault || s.Metadata().ID != m.ID {
			t.Errorf("use: %q from %s, metadata %+v", s.Reveal(), s.Source(), s.Metadata())
		}
		got, _ = f.v.Get(ctx, "tenant-a", m.ID)
		if got.LastUsedAt == nil {
			t.Error("last_used_at not set by Use")
		}
		s.Wipe()
		if s.Reveal() != nil {
			t.Errorf("after Wipe, Reveal = %q", s.Reveal())
		}

		mail, err := f.v.Use(ctx, "tenant-a", "vargate_smtp", "default", purpose)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := mail.SMTP()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != "mail.example.com" || cfg.Port != 587 || cfg.Password != "hunter2" {
			t.Errorf("smtp value = %#v (password %q)", cfg, cfg.Password)
		}
		if _, err := mail.BasicAuth(); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("smtp credential read as basic_auth: %v", err)
		}

		var ops []string
		for _, a := range f.audit.records() {
			ops = append(ops, string(a.Op)+":"+a.ToolID)
			if a.TenantID != "tenant-a" || a.CredentialID == "" || a.Version != 1 {
				t.Errorf("audit record %+v", a)
			}
			if a.Op == vault.OpUse && (a.ActionID != "act-1" || a.SessionID != "vs-1" || a.Actor != "agent-1" || a.Source != vault.SourceVault) {
				t.Errorf("use audit record %+v lacks the purpose", a)
			}
		}
		if want := "register:anthropic register:vargate_smtp use:anthropic use:vargate_smtp"; strings.Join(ops, " ") != want {
			t.Errorf("audit ops = %v, want %s", ops, want)
		}

		if _, err := f.v.Use(ctx, "tenant-a", "anthropic", "", vault.Purpose{Actor: "x"}); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("use without action or session: %v, want invalid", err)
		}
		if _, err := f.v.Use(ctx, "tenant-a", "vargate_github", "", purpose); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("use of an unregistered tool: %v, want not found", err)
		}
	})
}

func TestRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		v1 := register(t, f.v, "tenant-a", "vargate_github", "ci", vault.TypeBearerToken, "ghp_one")
		other := register(t, f.v, "tenant-a", "vargate_github", "release", vault.TypeBearerToken, "ghp_other")
		v2 := register(t, f.v, "tenant-a", "vargate_github", "ci", vault.TypeBearerToken, "ghp_two")
		if v2.Version != 2 || v2.ID == v1.ID {
			t.Fatalf("second registration = %+v, want version 2 with a new ID", v2)
		}
		if v1.Fingerprint == v2.Fingerprint {
			t.Error("different values share a fingerprint")
		}
		if got := use(t, f.v, "tenant-a", "vargate_github", "ci"); got != "ghp_two" {
			t.Errorf("after rotation Use = %q, want the new value", got)
		}
		if got := use(t, f.v, "tenant-a", "vargate_github", "release"); got != "ghp_other" {
			t.Errorf("other name = %q; rotation must not touch it", got)
		}
		old, err := f.v.Get(ctx, "tenant-a", v1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if old.State != vault.StateSuperseded || old.DestroyedAt == nil {
			t.Errorf("old version = %+v, want superseded", old)
		}
		if b := f.sealed(t, v1.ID); b != nil {
			t.Errorf("old version still holds %d sealed bytes", len(b))
		}
		active, _ := f.v.List(ctx, "tenant-a", vault.Filter{ToolID: "vargate_github"})
		if len(active) != 2 || active[0].ID != v2.ID || active[1].ID != other.ID {
			t.Errorf("active list = %+v", active)
		}
		hist, _ := f.v.List(ctx, "tenant-a", vault.Filter{ToolID: "vargate_github", All: true})
		if len(hist) != 3 {
			t.Errorf("history = %+v, want 3 versions", hist)
		}
		// The same value registered again has the same fingerprint.
		v3 := register(t, f.v, "tenant-a", "vargate_github", "ci", vault.TypeBearerToken, "ghp_two")
		if v3.Version != 3 || v3.Fingerprint != v2.Fingerprint {
			t.Errorf("re-registered = %+v, want version 3 with v2's fingerprint %s", v3, v2.Fingerprint)
		}
	})
}

func TestConcurrentRegistration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.v.Register(t.Context(), "tenant-a", vault.Registration{ToolID: "vargate_slack", Type: vault.TypeBearerToken, Value: []byte("xoxb-" + string(rune('a'+i)))})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent register: %v", err)
			}
		}
		hist, err := f.v.List(t.Context(), "tenant-a", vault.Filter{All: true})
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for i, m := range hist {
			if m.Version != n-i {
				t.Errorf("version[%d] = %d, want %d (versions %d..1 without gaps)", i, m.Version, n-i, n)
			}
			if m.State == vault.StateActive {
				active++
			}
		}
		if active != 1 {
			t.Errorf("%d active versions, want 1", active)
		}
	})
}

func TestDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		m := register(t, f.v, "tenant-a", "vargate_crm", "", vault.TypeAPIKey, "crm-key")
		if _, err := f.v.Delete(ctx, "tenant-b", m.ID); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Fatalf("delete by another tenant: %v, want not found", err)
		}
		if got := use(t, f.v, "tenant-a", "vargate_crm", ""); got != "crm-key" {
			t.Fatalf("after a foreign delete attempt: %q", got)
		}
		d, err := f.v.Delete(ctx, "tenant-a", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != vault.StateDeleted || d.DestroyedAt == nil {
			t.Errorf("deleted = %+v", d)
		}
		if b := f.sealed(t, m.ID); b != nil {
			t.Errorf("deleted credential still holds %d sealed bytes", len(b))
		}
		if _, err := f.v.Use(ctx, "tenant-a", "vargate_crm", "", purpose); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("use after delete: %v, want not found", err)
		}
		if l, _ := f.v.List(ctx, "tenant-a", vault.Filter{}); len(l) != 0 {
			t.Errorf("list after delete = %+v", l)
		}
		if _, err := f.v.Delete(ctx, "tenant-a", m.ID); err != nil {
			t.Errorf("second delete: %v", err)
		}
		n := 0
		for _, a := range f.audit.records() {
			if a.Op == vault.OpDelete {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d delete audit records, want 1 (the second delete destroyed nothing)", n)
		}
		again := register(t, f.v, "tenant-a", "vargate_crm", "", vault.TypeAPIKey, "crm-key-2")
		if again.Version != 2 {
			t.Errorf("registration after delete has version %d, want 2 (versions are never reused)", again.Version)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		a := register(t, f.v, "tenant-a", "anthropic", "", vault.TypeAPIKey, "sk-ant-tenant-a")
		if l, err := f.v.List(ctx, "tenant-b", vault.Filter{All: true}); err != nil || len(l) != 0 {
			t.Errorf("tenant B lists %+v (%v)", l, err)
		}
		if _, err := f.v.Get(ctx, "tenant-b", a.ID); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("tenant B gets A's credential: %v", err)
		}
		if _, err := f.v.Use(ctx, "tenant-b", "anthropic", "", purpose); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("tenant B uses A's credential: %v", err)
		}
		b := register(t, f.v, "tenant-b", "anthropic", "", vault.TypeAPIKey, "sk-ant-tenant-b")
		if b.Version != 1 {
			t.Errorf("tenant B's first credential has version %d", b.Version)
		}
		if got := use(t, f.v, "tenant-b", "anthropic", ""); got != "sk-ant-tenant-b" {
			t.Errorf("tenant B uses %q", got)
		}
		if got := use(t, f.v, "tenant-a", "anthropic", ""); got != "sk-ant-tenant-a" {
			t.Errorf("tenant A uses %q", got)
		}
		// Equal values in two tenants do not share a fingerprint (each
		// tenant's fingerprint key comes from its own data key).
		x := register(t, f.v, "tenant-a", "vargate_same", "", vault.TypeAPIKey, "shared-value")
		y := register(t, f.v, "tenant-b", "vargate_same", "", vault.TypeAPIKey, "shared-value")
		if x.Fingerprint == y.Fingerprint {
			t.Error("fingerprints are comparable across tenants")
		}
		if _, err := f.v.Use(ctx, "", "anthropic", "", purpose); !vargate.IsKind(err, vargate.KindUnauthorized) {
			t.Errorf("use without a tenant: %v", err)
		}
	})
}

func TestTamperedAndMovedValuesDoNotOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		x := register(t, f.v, "tenant-a", "vargate_tool-x", "", vault.TypeAPIKey, "value-x")
		y := register(t, f.v, "tenant-a", "vargate_tool-y", "", vault.TypeAPIKey, "value-y")
		z := register(t, f.v, "tenant-a", "vargate_tool-z", "", vault.TypeAPIKey, "value-z")
		w1 := register(t, f.v, "tenant-a", "vargate_tool-w", "", vault.TypeAPIKey, "value-w1")
		w1Sealed := f.sealed(t, w1.ID)
		w2 := register(t, f.v, "tenant-a", "vargate_tool-w", "", vault.TypeAPIKey, "value-w2")
		register(t, f.v, "tenant-b", "vargate_tool-x", "", vault.TypeAPIKey, "value-bx")
		audits := len(f.audit.records())

		// Flip one bit of x's ciphertext.
		bad := f.sealed(t, x.ID)
		bad[len(bad)-20] ^= 0x01
		f.exec(t, `UPDATE vault_credentials SET sealed = ? WHERE id = ?`, bad, x.ID)
		// Swap y's and z's values (same tenant, same data key).
		ys, zs := f.sealed(t, y.ID), f.sealed(t, z.ID)
		f.exec(t, `UPDATE vault_credentials SET sealed = ? WHERE id = ?`, zs, y.ID)
		f.exec(t, `UPDATE vault_credentials SET sealed = ? WHERE id = ?`, ys, z.ID)
		// Roll w back to its superseded first version's value.
		f.exec(t, `UPDATE vault_credentials SET sealed = ? WHERE id = ?`, w1Sealed, w2.ID)
		for _, c := range []struct{ tool, name string }{{"vargate_tool-x", ""}, {"vargate_tool-y", ""}, {"vargate_tool-z", ""}, {"vargate_tool-w", ""}} {
			s, err := f.v.Use(ctx, "tenant-a", c.tool, c.name, purpose)
			if !vargate.IsKind(err, vargate.KindInternal) {
				t.Errorf("%s: Use after tampering = %q, %v; want an internal error", c.tool, s.Reveal(), err)
			}
			if err != nil && strings.Contains(err.Error(), "value-") {
				t.Errorf("%s: error quotes a value: %v", c.tool, err)
			}
		}
		if n := len(f.audit.records()); n != audits {
			t.Errorf("failed opens wrote %d audit records, want none (nothing was released)", n-audits)
		}

		// Move tenant B's value into tenant A's row of the same tool: the
		// data key differs and the additional data names tenant B.
		var bSealed []byte
		if err := f.db.QueryRowContext(ctx, `SELECT sealed FROM vault_credentials WHERE tenant_id = 'tenant-b' AND tool_id = 'vargate_tool-x'`).Scan(&bSealed); err != nil {
			t.Fatal(err)
		}
		f.exec(t, `UPDATE vault_credentials SET sealed = ? WHERE id = ?`, bSealed, x.ID)
		if _, err := f.v.Use(ctx, "tenant-a", "vargate_tool-x", "", purpose); !vargate.IsKind(err, vargate.KindInternal) {
			t.Errorf("tenant B's value in tenant A's row: %v, want an internal error", err)
		}
		// Renaming the row (its tool) breaks the binding too.
		f.exec(t, `UPDATE vault_credentials SET sealed = ? WHERE id = ?`, ys, y.ID)
		if got := use(t, f.v, "tenant-a", "vargate_tool-y", ""); got != "value-y" {
			t.Fatalf("restored value = %q", got)
		}
		f.exec(t, `UPDATE vault_credentials SET tool_id = 'vargate_tool-q' WHERE id = ?`, y.ID)
		if _, err := f.v.Use(ctx, "tenant-a", "vargate_tool-q", "", purpose); !vargate.IsKind(err, vargate.KindInternal) {
			t.Errorf("value under a renamed tool: %v, want an internal error", err)
		}
	})
}

func TestSwappedDataKeysDoNotUnwrap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		register(t, f.v, "tenant-a", "vargate_t", "", vault.TypeAPIKey, "value-a")
		register(t, f.v, "tenant-b", "vargate_t", "", vault.TypeAPIKey, "value-b")
		// Give tenant B tenant A's wrapped data key. A fresh vault (empty
		// cache) must refuse to unwrap it for B.
		var wrappedA []byte
		var kekA string
		if err := f.db.QueryRowContext(t.Context(), `SELECT wrapped, kek_id FROM vault_data_keys WHERE tenant_id = 'tenant-a'`).Scan(&wrappedA, &kekA); err != nil {
			t.Fatal(err)
		}
		f.exec(t, `UPDATE vault_data_keys SET wrapped = ?, kek_id = ? WHERE tenant_id = 'tenant-b'`, wrappedA, kekA)
		fresh := vault.New(sqlstore.NewVaultStore(f.db), f.keys, f.audit, nil)
		if _, err := fresh.Use(t.Context(), "tenant-b", "vargate_t", "", purpose); !vargate.IsKind(err, vargate.KindInternal) {
			t.Errorf("tenant B with A's data key: %v, want an internal error", err)
		}
		if got := use(t, fresh, "tenant-a", "vargate_t", ""); got != "value-a" {
			t.Errorf("tenant A = %q", got)
		}
	})
}

func TestAuditFailureFailsClosed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		m := register(t, f.v, "tenant-a", "anthropic", "", vault.TypeAPIKey, "sk-ant-closed")
		f.audit.setFail(errors.New("audit database is down"))
		s, err := f.v.Use(ctx, "tenant-a", "anthropic", "", purpose)
		if !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("use with a failing auditor: %v, want unavailable", err)
		}
		if !s.IsZero() || s.Reveal() != nil {
			t.Errorf("a value was released without an audit record: %q", s.Reveal())
		}
		fb := vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", "sk-ant-env")
		if s, err := f.v.UseOrFallback(ctx, "tenant-b", vault.AnthropicToolID, "", fb, purpose); err == nil || !s.IsZero() {
			t.Errorf("fallback released without an audit record: %v", err)
		}
		got, _ := f.v.Get(ctx, "tenant-a", m.ID)
		if got.LastUsedAt != nil {
			t.Error("last_used_at set although the use failed")
		}
		noAudit := vault.New(sqlstore.NewVaultStore(f.db), f.keys, nil, nil)
		if _, err := noAudit.Use(ctx, "tenant-a", "anthropic", "", purpose); !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("use with no auditor: %v, want unavailable", err)
		}
	})
}

func TestUseOrFallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixture(t, db)
		ctx := t.Context()
		fb := vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", "sk-ant-from-env")
		register(t, f.v, "tenant-a", vault.AnthropicToolID, "", vault.TypeAPIKey, "sk-ant-tenant")

		s, err := f.v.UseOrFallback(ctx, "tenant-a", vault.AnthropicToolID, "", fb, purpose)
		if err != nil || string(s.Reveal()) != "sk-ant-tenant" || s.Source() != vault.SourceVault {
			t.Errorf("tenant with a key: %q from %s (%v)", s.Reveal(), s.Source(), err)
		}
		s, err = f.v.UseOrFallback(ctx, "tenant-b", vault.AnthropicToolID, "", fb, purpose)
		if err != nil || string(s.Reveal()) != "sk-ant-from-env" || s.Source() != vault.SourceEnvironment {
			t.Errorf("tenant without a key: %q from %s (%v)", s.Reveal(), s.Source(), err)
		}
		recs := f.audit.records()
		last := recs[len(recs)-1]
		if last.Source != vault.SourceEnvironment || last.TenantID != "tenant-b" || last.CredentialID != "env:ANTHROPIC_API_KEY" {
			t.Errorf("fallback audit record = %+v", last)
		}
		if _, err := f.v.UseOrFallback(ctx, "tenant-b", vault.AnthropicToolID, "", vault.Secret{}, purpose); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("no key and no fallback: %v, want not found", err)
		}
		if !vault.EnvSecret("anthropic", vault.TypeAPIKey, "ANTHROPIC_API_KEY", "").IsZero() {
			t.Error("EnvSecret of an empty variable is not zero")
		}
		// A tenant key that fails to open is an error, not a reason to
		// spend the operator's key.
		f.exec(t, `UPDATE vault_credentials SET version = 7 WHERE tenant_id = 'tenant-a'`)
		if s, err := f.v.UseOrFallback(ctx, "tenant-a", vault.AnthropicToolID, "", fb, purpose); !vargate.IsKind(err, vargate.KindInternal) {
			t.Errorf("broken tenant key: %q, %v; want an internal error, no fallback", s.Reveal(), err)
		}
	})
}

func TestLastUsedResolution(t *testing.T) {
	f := newFixture(t, storetest.Open(t, sqlstore.SQLite))
	ctx := t.Context()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.v.Now = func() time.Time { return now }
	m := register(t, f.v, "tenant-a", "vargate_crm", "", vault.TypeAPIKey, "k")
	lastUsed := func() time.Time {
		t.Helper()
		got, err := f.v.Get(ctx, "tenant-a", m.ID)
		if err != nil || got.LastUsedAt == nil {
			t.Fatalf("last_used_at: %+v, %v", got, err)
		}
		return *got.LastUsedAt
	}
	use(t, f.v, "tenant-a", "vargate_crm", "")
	first := now
	now = now.Add(vault.LastUsedResolution - time.Second)
	use(t, f.v, "tenant-a", "vargate_crm", "")
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("within the resolution: last_used_at = %v, want %v kept", got, first)
	}
	now = now.Add(2 * time.Second)
	use(t, f.v, "tenant-a", "vargate_crm", "")
	if got := lastUsed(); !got.Equal(now) {
		t.Errorf("after the resolution: last_used_at = %v, want %v", got, now)
	}
}
