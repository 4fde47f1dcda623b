// Package postgres opens the scale-out store on PostgreSQL through pgx and
// carries the PostgreSQL dialect of the schema migrations. The queries
// themselves live in internal/sqlstore. It must not import other adapters.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/vargate/vargate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations returns the PostgreSQL schema migrations.
func Migrations() ([]sqlstore.Migration, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	return sqlstore.LoadMigrations(sub)
}

// Open connects to the PostgreSQL database named by dsn
// (postgres://user@host:port/db?…).
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	cfg, err := pgconnConfig(dsn)
	if err != nil {
		return nil, err
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(32)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &sqlstore.DB{
		Dialect:           sqlstore.Postgres,
		Write:             pool,
		Read:              pool,
		IsUniqueViolation: func(err error) bool { return pgCode(err) == "23505" },
		IsRetryable: func(err error) bool {
			c := pgCode(err)
			return c == "40001" || c == "40P01"
		},
		Now: func() time.Time { return time.Now().UTC() },
	}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return db, nil
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func pgconnConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	return cfg, nil
}
