package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
)

// vaultFixture is a migrated SQLite data directory with one tenant, a
// credential audit trail on the real audit log, and one registered
// credential.
func vaultFixture(t *testing.T) (dir string, db *sqlstore.DB, alog *audit.Log) {
	t.Helper()
	ctx := t.Context()
	dir = t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vargate.db"))
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
	if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: "tenant-a", Name: "a", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"), "test")
	if err != nil {
		t.Fatal(err)
	}
	alog = audit.New(sqlstore.NewAuditStore(db), signer)
	if err := alog.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	return dir, db, alog
}

func TestVaultAuditorWritesCredentialRecords(t *testing.T) {
	ctx := t.Context()
	dir, db, alog := vaultFixture(t)
	v, closeKeys, err := openVault(ctx, &Config{DataDir: dir}, func(string) string { return "" }, db, vaultAuditor{alog}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer closeKeys()
	secret := "sk-ant-api03-AUDITED-VALUE"
	if _, err := v.Register(ctx, "tenant-a", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte(secret)}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Use(ctx, "tenant-a", "anthropic", "", vault.Purpose{ActionID: "act-9", SessionID: "vs-9", Actor: "agent-9"}); err != nil {
		t.Fatal(err)
	}
	fb := anthropicFallback(&Config{AnthropicAPIKey: "sk-ant-operator"})
	if fb.IsZero() || !anthropicFallback(&Config{}).IsZero() {
		t.Error("anthropicFallback does not follow ANTHROPIC_API_KEY")
	}
	recs, err := alog.Store.List(ctx, "tenant-a", audit.Filter{Source: audit.SourceCredential})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d credential records, want register and use", len(recs))
	}
	var use audit.Record
	for _, r := range recs {
		if r.ActionID == "act-9" {
			use = r
		}
	}
	var detail map[string]any
	if err := json.Unmarshal(use.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if use.Tool != "anthropic" || use.SessionID != "vs-9" || use.Actor != "agent-9" || detail["op"] != "use" || detail["version"] != float64(1) {
		t.Errorf("use record = %+v, detail %v", use, detail)
	}
	all, _ := json.Marshal(recs)
	if bytes.Contains(all, []byte(secret)) {
		t.Error("the audit trail contains the credential value")
	}
}

func TestVaultRotateKEKCommand(t *testing.T) {
	ctx := t.Context()
	dir, db, alog := vaultFixture(t)
	getenv := func(k string) string {
		return map[string]string{"VARGATE_DATA_DIR": dir, "VARGATE_AUTO_MIGRATE": "false"}[k]
	}
	cfg := &Config{DataDir: dir}
	v, closeKeys, err := openVault(ctx, cfg, getenv, db, vaultAuditor{alog}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer closeKeys()
	if _, err := v.Register(ctx, "tenant-a", vault.Registration{ToolID: "http:crm.example.com", Type: vault.TypeAPIKey, Value: []byte("crm-key")}); err != nil {
		t.Fatal(err)
	}

	runCmd := func(env func(string) string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), &environment{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env}, args)
		return out.String() + errb.String(), err
	}
	out, err := runCmd(getenv, "vault", "rotate-kek")
	if err != nil {
		t.Fatalf("rotate-kek: %v\n%s", err, out)
	}
	if !strings.Contains(out, "rewrapped data keys: 1") || !strings.Contains(out, "older KEKs may be retired") {
		t.Errorf("rotate-kek output:\n%s", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, vault.KEKFileName))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\nlocal:"); n != 2 {
		t.Errorf("key file holds %d keys after rotation, want 2", n)
	}
	// The running vault keeps working, and so does a fresh one.
	if _, err := v.Use(ctx, "tenant-a", "http:crm.example.com", "", vault.Purpose{ActionID: "a", Host: "crm.example.com"}); err != nil {
		t.Errorf("running vault after rotation: %v", err)
	}
	fresh, closeFresh, err := openVault(ctx, cfg, getenv, db, vaultAuditor{alog}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFresh()
	if s, err := fresh.Use(ctx, "tenant-a", "http:crm.example.com", "", vault.Purpose{ActionID: "a", Host: "crm.example.com"}); err != nil || string(s.Reveal()) != "crm-key" {
		t.Errorf("fresh vault after rotation: %v", err)
	}

	out, err = runCmd(getenv, "vault", "rotate-kek", "--no-new-key", "--json")
	if err != nil {
		t.Fatalf("rotate-kek --no-new-key: %v\n%s", err, out)
	}
	var rep struct {
		KEK       string `json:"kek_id"`
		Rewrapped int    `json:"rewrapped"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Rewrapped != 0 || rep.KEK == "" {
		t.Errorf("--no-new-key --json: %+v (%v)\n%s", rep, err, out)
	}

	bogus := func(k string) string {
		if k == envKeyProvider {
			return "kms"
		}
		return getenv(k)
	}
	if out, err := runCmd(bogus, "vault", "rotate-kek"); err == nil || !strings.Contains(err.Error(), "kms") {
		t.Errorf("unknown provider: %v\n%s", err, out)
	}
	if err := os.Chmod(filepath.Join(dir, vault.KEKFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(getenv, "vault", "rotate-kek"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v\n%s", err, out)
	}
	if _, err := runCmd(getenv, "vault"); err == nil {
		t.Error("vault without a subcommand succeeded")
	}
}
