package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
)

// jsonAuditor stands in for the audit log and its export: it serialises
// every record it is given, as an export would.
type jsonAuditor struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *jsonAuditor) RecordCredentialAccess(_ context.Context, r vault.Access) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return json.NewEncoder(&a.buf).Encode(r)
}

// TestCanary registers distinctive secrets, drives every vault operation
// (including failing ones), and then looks for the secrets — raw, hex and
// base64 — in the logs, the audit records, everything the vault returned,
// and every byte of the data directory: SQLite file, WAL, key file.
func TestCanary(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vargate.db"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	as := sqlstore.NewAuthStore(db)
	for _, id := range []string{"tenant-a", "tenant-b"} {
		if err := as.CreateTenant(ctx, auth.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys, err := vault.OpenKeyProvider(ctx, vault.KeyProviderConfig{DataDir: dir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	audit := &jsonAuditor{}
	v := vault.New(sqlstore.NewVaultStore(db), keys, audit, logger)

	canary := "sk-ant-api03-CANARY-" + vargate.NewID("", 16)
	canary2 := "sk-ant-api03-CANARY2-" + vargate.NewID("", 16)
	smtpPW := "CANARY-SMTP-" + vargate.NewID("", 8)
	dbPW := "CANARY-DB-" + vargate.NewID("", 8)
	secrets := []string{canary, canary2, smtpPW, dbPW}

	var returned []any // everything the vault handed back, marshalled below
	keep := func(v any, err error) {
		returned = append(returned, v)
		if err != nil {
			returned = append(returned, err.Error())
		}
	}
	p := vault.Purpose{ActionID: "act-canary", SessionID: "vs-canary", Actor: "agent-canary"}

	m, err := v.Register(ctx, "tenant-a", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte(canary)})
	if err != nil {
		t.Fatal(err)
	}
	keep(m, nil)
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "vargate_send_email", Type: vault.TypeSMTP,
		Value: []byte(`{"host":"smtp.example.com","port":587,"username":"bot","password":"` + smtpPW + `","from":"bot@example.com"}`)}))
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "vargate_read_database", Type: vault.TypeDatabaseURL,
		Value: []byte("postgres://reader:" + dbPW + "@db.internal:5432/crm")}))
	// Rejected registrations must not echo the value either.
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte(canary + "\n")}))
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "anthropic", Type: "password", Value: []byte(canary)}))
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "db", Type: vault.TypeDatabaseURL, Value: []byte("postgres://u:" + dbPW + "@/x y")}))
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "db", Type: vault.TypeDatabaseURL, Value: []byte("mysql://u:" + dbPW + "@h/x")}))
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "mail", Type: vault.TypeSMTP, Value: []byte(`{"host":"h","port":"` + smtpPW + `","from":"x"}`)}))
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "mail", Type: vault.TypeSMTP, Value: []byte(`{"` + smtpPW + `":1}`)}))

	keep(v.List(ctx, "tenant-a", vault.Filter{All: true}))
	keep(v.Get(ctx, "tenant-a", m.ID))
	for _, tool := range []string{"anthropic", "vargate_send_email", "vargate_read_database"} {
		s, err := v.Use(ctx, "tenant-a", tool, "", p)
		if err != nil {
			t.Fatalf("use %s: %v", tool, err)
		}
		// What a careless connector might do with it.
		logger.Info("careless connector", "secret", s, "fmt", fmt.Sprintf("%v %+v %#v", s, s, s))
		if tool == "vargate_send_email" {
			cfg, err := s.SMTP()
			if err != nil {
				t.Fatal(err)
			}
			logger.Info("careless connector", "smtp", cfg, "fmt", fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
			keep(cfg, nil)
		}
		keep(s, nil)
		keep(s.Metadata(), nil)
	}
	keep(v.Use(ctx, "tenant-b", "anthropic", "", p))
	// Rotation, then deletion.
	keep(v.Register(ctx, "tenant-a", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte(canary2)}))
	s2, err := v.Use(ctx, "tenant-a", "anthropic", "", p)
	if err != nil || string(s2.Reveal()) != canary2 {
		t.Fatalf("after rotation: %v", err)
	}
	keep(s2, nil)
	keep(v.Delete(ctx, "tenant-a", m.ID))
	keep(v.RotateKEK(ctx))
	keep(v.List(ctx, "tenant-a", vault.Filter{All: true}))
	// A tampered row: the failure is logged, the value is not.
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE vault_credentials SET version = version + 100 WHERE tool_id = 'vargate_send_email'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	keep(v.Use(ctx, "tenant-a", "vargate_send_email", "", p))

	var out bytes.Buffer
	for _, r := range returned {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		fmt.Fprintf(&out, "%v %+v %#v\n", r, r, r)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	places := map[string][]byte{"logs": logs.Bytes(), "audit records": audit.buf.Bytes(), "vault return values": out.Bytes()}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		places["file "+e.Name()] = b
	}
	if len(places["file vargate.db"]) == 0 || len(places["file kek.key"]) == 0 || audit.buf.Len() == 0 || logs.Len() == 0 {
		t.Fatalf("nothing to search: %d places", len(places))
	}
	for _, secret := range secrets {
		forms := map[string][]byte{
			"raw":    []byte(secret),
			"hex":    []byte(hex.EncodeToString([]byte(secret))),
			"base64": []byte(base64.StdEncoding.EncodeToString([]byte(secret))[:len(secret)]),
		}
		for place, b := range places {
			for form, needle := range forms {
				if bytes.Contains(b, needle) {
					t.Errorf("secret %.20s… found (%s) in %s", secret, form, place)
				}
			}
		}
	}
}
