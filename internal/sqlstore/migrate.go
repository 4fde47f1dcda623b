package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/vargate/vargate"
)

// Migration is one numbered schema change.
type Migration struct {
	Version     int
	Description string
	SQL         string
}

// LoadMigrations reads files named NNN_description.sql from fsys. The
// description is the file name's words after the number.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, desc, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_description.sql", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Description: strings.ReplaceAll(desc, "_", " "), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

const createSchemaVersion = `CREATE TABLE IF NOT EXISTS schema_version (
	version     INTEGER PRIMARY KEY,
	description TEXT NOT NULL,
	applied_at  BIGINT NOT NULL
)`

// Applied returns the versions recorded in schema_version, in order.
func (db *DB) Applied(ctx context.Context) ([]int, error) {
	if _, err := db.Write.ExecContext(ctx, createSchemaVersion); err != nil {
		return nil, fmt.Errorf("create schema_version: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read schema_version: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// Migrate applies every migration not yet recorded, each in its own
// transaction together with its schema_version row, and returns the
// versions it applied. On PostgreSQL an advisory lock keeps concurrent
// gateways from migrating at once. A database that records a version this
// binary does not know is refused: it was migrated by a newer Vargate.
func (db *DB) Migrate(ctx context.Context, ms []Migration) ([]int, error) {
	if _, err := db.Write.ExecContext(ctx, createSchemaVersion); err != nil {
		return nil, fmt.Errorf("create schema_version: %w", err)
	}
	var applied []int
	err := db.InTx(ctx, func(tx *Tx) error {
		if db.Dialect == Postgres {
			// Held until commit: one migrator at a time across processes.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7263520001)`); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		have, err := appliedIn(ctx, tx)
		if err != nil {
			return err
		}
		if err := checkKnown(have, ms); err != nil {
			return err
		}
		for _, m := range ms {
			if have[m.Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %03d %s: %w", m.Version, m.Description, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Description, Micros(db.Now())); err != nil {
				return fmt.Errorf("record migration %03d: %w", m.Version, err)
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// CheckSchema returns an error unless every migration in ms is applied and
// the database records none that ms lacks.
func (db *DB) CheckSchema(ctx context.Context, ms []Migration) error {
	vs, err := db.Applied(ctx)
	if err != nil {
		return err
	}
	have := map[int]bool{}
	for _, v := range vs {
		have[v] = true
	}
	if err := checkKnown(have, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if !have[m.Version] {
			return vargate.Errorf(vargate.KindUnavailable,
				"database schema is out of date (migration %03d %q not applied); run `vargate migrate` or start with --migrate", m.Version, m.Description)
		}
	}
	return nil
}

func appliedIn(ctx context.Context, tx *Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_version`)
	if err != nil {
		return nil, fmt.Errorf("read schema_version: %w", err)
	}
	defer rows.Close()
	have := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		have[v] = true
	}
	return have, rows.Err()
}

func checkKnown(have map[int]bool, ms []Migration) error {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	for v := range have {
		if !known[v] {
			return vargate.Errorf(vargate.KindUnavailable,
				"database schema version %d is newer than this binary knows; upgrade vargate or point it at another database", v)
		}
	}
	return nil
}
