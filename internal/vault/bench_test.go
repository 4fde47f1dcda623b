package vault_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

// discardAudit accepts every record; the benchmarks measure the vault.
type discardAudit struct{}

func (discardAudit) RecordCredentialAccess(_ context.Context, _ vault.Access) error { return nil }

func benchVault(b *testing.B, d sqlstore.Dialect) *vault.Vault {
	db := storetest.Open(b, d)
	if err := sqlstore.NewAuthStore(db).CreateTenant(b.Context(), auth.Tenant{ID: "t", Name: "t", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	keys, err := vault.OpenLocalKeyProvider(filepath.Join(b.TempDir(), vault.KEKFileName), nil)
	if err != nil {
		b.Fatal(err)
	}
	return vault.New(sqlstore.NewVaultStore(db), keys, discardAudit{}, nil)
}

// BenchmarkUse is a connector fetching a credential: one indexed read,
// AES-GCM open with a cached data key, the audit call, last_used_at write.
func BenchmarkUse(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			v := benchVault(b, d)
			if _, err := v.Register(b.Context(), "t", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte("sk-ant-api03-bench")}); err != nil {
				b.Fatal(err)
			}
			p := vault.Purpose{ActionID: "act"}
			for b.Loop() {
				s, err := v.Use(b.Context(), "t", "anthropic", "", p)
				if err != nil {
					b.Fatal(err)
				}
				s.Wipe()
			}
		})
	}
}

// BenchmarkRegister is a rotation: supersede and insert in one transaction.
func BenchmarkRegister(b *testing.B) {
	v := benchVault(b, sqlstore.SQLite)
	i := 0
	for b.Loop() {
		i++
		if _, err := v.Register(b.Context(), "t", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte("sk-" + strconv.Itoa(i))}); err != nil {
			b.Fatal(err)
		}
	}
}
