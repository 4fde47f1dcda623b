// Package storetest opens fresh, migrated databases of every dialect for
// tests, so one behaviour suite runs against SQLite and PostgreSQL alike.
//
// PostgreSQL comes from VARGATE_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each test gets
// its own schema, dropped afterwards. When the server is unreachable the
// PostgreSQL half is skipped — except under CI=true, where it fails.
package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/postgres"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
)

// DefaultPostgresDSN is the test server the project's machines and CI run.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN returns the DSN of the test PostgreSQL server.
func PostgresDSN() string {
	if v := os.Getenv("VARGATE_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultPostgresDSN
}

// Each runs fn as a subtest once per dialect, each with a fresh migrated
// database.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a fresh migrated database of dialect d, closed when the test ends.
func Open(tb testing.TB, d sqlstore.Dialect) *sqlstore.DB {
	tb.Helper()
	ctx := context.Background()
	var db *sqlstore.DB
	var ms []sqlstore.Migration
	var err error
	switch d {
	case sqlstore.SQLite:
		db, err = sqlite.Open(ctx, filepath.Join(tb.TempDir(), "vargate.db"))
		if err != nil {
			tb.Fatalf("open sqlite: %v", err)
		}
		ms, err = sqlite.Migrations()
	case sqlstore.Postgres:
		db = OpenPostgresSchema(tb)
		ms, err = postgres.Migrations()
	default:
		tb.Fatalf("unknown dialect %q", d)
	}
	if err != nil {
		tb.Fatalf("load migrations: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx, ms); err != nil {
		tb.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// OpenPostgresSchema connects to the test server with a new, empty schema
// as the search path (not migrated). The schema is dropped at cleanup.
func OpenPostgresSchema(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	ctx := context.Background()
	dsn := PostgresDSN()
	admin, err := postgres.Open(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("VARGATE_TEST_POSTGRES") != "" {
			tb.Fatalf("PostgreSQL is required here but unreachable: %v", err)
		}
		tb.Skipf("PostgreSQL unreachable, skipping (set CI=true to make this fatal): %v", err)
	}
	schema := fmt.Sprintf("t_%d_%s", time.Now().UnixNano(), strings.TrimPrefix(vargate.NewID("", 4), ""))
	if _, err := admin.Write.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.Write.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := postgres.Open(ctx, dsn+sep+"search_path="+schema)
	if err != nil {
		tb.Fatalf("open postgres schema: %v", err)
	}
	return db
}

// Migrations returns the embedded migrations of dialect d.
func Migrations(tb testing.TB, d sqlstore.Dialect) []sqlstore.Migration {
	tb.Helper()
	var ms []sqlstore.Migration
	var err error
	if d == sqlstore.Postgres {
		ms, err = postgres.Migrations()
	} else {
		ms, err = sqlite.Migrations()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}
