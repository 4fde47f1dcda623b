package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
)

// auditFixture is a stopped gateway's data directory: a SQLite database
// with two tenants' audit trails, signed checkpoints and the signing key.
func auditFixture(t *testing.T) (dir string, db *sqlstore.DB, signer *audit.Signer, l *audit.Log) {
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
	signer, err = audit.LoadOrCreateKey(auditKeyPath(&Config{DataDir: dir}), "")
	if err != nil {
		t.Fatal(err)
	}
	l = audit.New(sqlstore.NewAuditStore(db), signer)
	l.CheckpointInterval = -1
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	at := time.Date(2026, 4, 11, 9, 0, 0, 0, time.UTC)
	for i := range 30 {
		tenant := "tenant-a"
		if i%10 == 9 {
			tenant = "tenant-b"
		}
		if _, err := l.Append(ctx, audit.Record{TenantID: tenant, Time: at.Add(time.Duration(i) * time.Second),
			Source: audit.SourceMCPGoverned, SessionID: "s1", Tool: "send_email", Decision: "deny",
			Reasons: []string{"external recipient"}, ArgsRedacted: json.RawMessage(`{"to":"<redacted>"}`)}); err != nil {
			t.Fatal(err)
		}
		if i == 14 {
			if _, err := l.Checkpoint(ctx, "tenant-a"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if _, err := l.Checkpoint(ctx, tenant); err != nil {
			t.Fatal(err)
		}
	}
	return dir, db, signer, l
}

// runCmd runs vargate on the data directory dir and returns its stdout
// followed by its stderr (where admin commands name their database).
func runCmd(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &environment{stdout: &out, stderr: &errOut, getenv: func(k string) string {
		return map[string]string{"VARGATE_DATA_DIR": dir, "VARGATE_AUTO_MIGRATE": "false"}[k]
	}}
	err := run(t.Context(), env, args)
	return out.String() + errOut.String(), err
}

func TestAuditVerifyCommand(t *testing.T) {
	dir, db, signer, _ := auditFixture(t)
	out, err := runCmd(t, dir, "audit", "verify")
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	for _, want := range []string{"tenant tenant-a: valid — 27 records, 2 signed checkpoints", "tenant tenant-b: valid — 3 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCmd(t, dir, "audit", "verify", "--tenant", "tenant-b", "--json", "--public-key", signer.PublicKey())
	if err != nil {
		t.Fatalf("audit verify --json: %v\n%s", err, out)
	}
	var doc struct {
		Valid   bool                 `json:"valid"`
		Tenants []audit.VerifyResult `json:"tenants"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&doc); err != nil || !doc.Valid || len(doc.Tenants) != 1 || doc.Tenants[0].RecordsChecked != 3 {
		t.Errorf("--json output %s (%v)", out, err)
	}

	// Keep the latest checkpoint outside the database, as an auditor would.
	ctx := t.Context()
	cp, err := sqlstore.NewAuditStore(db).LatestCheckpoint(ctx, "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "kept.json")
	b, _ := json.Marshal(map[string]any{"checkpoint": cp.Note, "public_key": signer.PublicKey()})
	if err := os.WriteFile(kept, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// An attacker cuts the tail and every trace of it: records, the stored
	// checkpoint that covered them, and the chain head.
	for _, q := range []string{
		`DROP TRIGGER audit_log_no_delete`, `DROP TRIGGER audit_checkpoints_no_delete`,
		`DELETE FROM audit_log WHERE tenant_id = 'tenant-a' AND seq > 20`,
		`DELETE FROM audit_checkpoints WHERE tenant_id = 'tenant-a' AND tree_size > 20`,
	} {
		if _, err := db.Write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	head := audit.Head{TenantID: "tenant-a"}
	err = sqlstore.NewAuditStore(db).Scan(ctx, "tenant-a", 1, 20, func(r *audit.Record) error {
		c := r.Clone()
		_, err := head.Seal(&c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, `UPDATE audit_heads SET seq = ?, hash = ?, merkle = ? WHERE tenant_id = 'tenant-a'`,
		head.Seq, head.Hash[:], head.MarshalRange()); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, dir, "audit", "verify"); err != nil {
		t.Fatalf("the database alone cannot show this truncation, yet verify failed: %v\n%s", err, out)
	}
	out, err = runCmd(t, dir, "audit", "verify", "--checkpoint", kept, "--public-key", kept)
	if !errors.Is(err, errNotValid) || !strings.Contains(out, "tenant tenant-a: NOT VALID — first invalid record 21") {
		t.Errorf("verify against a kept checkpoint: %v\n%s", err, out)
	}

	// A changed field is caught from the database alone.
	if _, err := db.Write.ExecContext(ctx, `DROP TRIGGER audit_log_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, `UPDATE audit_log SET decision = 'allow' WHERE tenant_id = 'tenant-b' AND seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, dir, "audit", "verify", "--tenant", "tenant-b")
	if !errors.Is(err, errNotValid) || !strings.Contains(out, "first invalid record 2") {
		t.Errorf("verify after a change: %v\n%s", err, out)
	}
}

func TestVerifyCommand(t *testing.T) {
	_, _, signer, l := auditFixture(t)
	ctx := t.Context()
	dir := t.TempDir()
	whole, err := l.Bundle(ctx, "tenant-a", audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	session, err := l.Bundle(ctx, "tenant-a", audit.Filter{SessionID: "s1", Since: time.Date(2026, 4, 11, 9, 0, 20, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wholePath := write("whole.json", whole)
	exportPath := write("export.json", map[string]any{"tenant": "tenant-a", "chain_verification": session})
	keyPath := write("key.json", map[string]string{"public_key": signer.PublicKey()})

	for _, args := range [][]string{
		{"verify", wholePath, "--public-key", signer.PublicKey()},
		{"verify", "--public-key", keyPath, wholePath},
		{"verify", exportPath, "--public-key", signer.PublicKey()},
	} {
		out, err := runCmd(t, dir, args...)
		if err != nil || !strings.Contains(out, "valid —") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := runCmd(t, dir, "verify", exportPath, "--public-key", signer.PublicKey(), "--json")
	var res audit.VerifyResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.Valid || res.RecordsChecked != 9 {
		t.Errorf("--json: %v, %+v\n%s", err, res, out)
	}

	whole.Records[4].Tool = "read_file"
	tampered := write("tampered.json", whole)
	out, err = runCmd(t, dir, "verify", tampered, "--public-key", signer.PublicKey())
	if !errors.Is(err, errNotValid) || !strings.Contains(out, "first invalid record 5") {
		t.Errorf("tampered bundle: %v\n%s", err, out)
	}
	other, err := audit.LoadOrCreateKey(filepath.Join(dir, "other.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, dir, "verify", wholePath, "--public-key", other.PublicKey()); !errors.Is(err, errNotValid) {
		t.Errorf("bundle against another key: %v, want not valid", err)
	}
	if _, err := runCmd(t, dir, "verify", wholePath); !errors.Is(err, errUsage) {
		t.Errorf("verify without --public-key: %v, want usage", err)
	}
}
