package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// migratedBefore opens an empty database of dialect d (a fresh PostgreSQL
// schema, or a SQLite file) and applies every migration before the one
// described as description, whatever its number, for a test of that
// migration on existing data. It returns the database and all the
// dialect's migrations.
func migratedBefore(t *testing.T, d sqlstore.Dialect, description string) (*sqlstore.DB, []sqlstore.Migration) {
	t.Helper()
	ctx := t.Context()
	var db *sqlstore.DB
	if d == sqlstore.Postgres {
		db = storetest.OpenPostgresSchema(t)
	} else {
		var err error
		if db, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db")); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Close() })
	ms := storetest.Migrations(t, d)
	var before []sqlstore.Migration
	for _, m := range ms {
		if m.Description == description {
			break
		}
		before = append(before, m)
	}
	if len(before) == len(ms) {
		t.Fatalf("no %s migration", description)
	}
	if _, err := db.Migrate(ctx, before); err != nil {
		t.Fatal(err)
	}
	return db, ms
}
