package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/vargate/vargate/internal/postgres"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
)

// openStore opens the configured database and returns it with the
// migrations of its dialect. It neither migrates nor checks the schema.
func openStore(ctx context.Context, cfg *Config) (*sqlstore.DB, []sqlstore.Migration, error) {
	if cfg.UsesPostgres() {
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, nil, err
		}
		ms, err := postgres.Migrations()
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return db, ms, nil
	}
	db, err := sqlite.Open(ctx, cfg.SQLitePath())
	if err != nil {
		return nil, nil, err
	}
	ms, err := sqlite.Migrations()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, ms, nil
}

// openMigrated opens the store, applies migrations when cfg.AutoMigrate is
// set, and refuses a schema that is out of date or newer than this binary.
func openMigrated(ctx context.Context, cfg *Config, log *slog.Logger) (*sqlstore.DB, error) {
	db, ms, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		applied, err := db.Migrate(ctx, ms)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if len(applied) > 0 {
			log.Info("applied schema migrations", slog.Any("versions", applied))
		}
	}
	if err := db.CheckSchema(ctx, ms); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// loadConfig parses a subcommand's flags together with the configuration
// settings. Commands that only need the database share it.
// It returns the positional arguments.
func loadConfig(env *environment, name, usageLine, description string, args []string, extra func(*flag.FlagSet)) (*Config, []string, error) {
	fs := newFlagSet(env, name, usageLine, description)
	if extra != nil {
		extra(fs)
	}
	return LoadConfig(fs, args, env.getenv)
}

// newLogger builds the process logger: text on a terminal, JSON otherwise.
func newLogger(w io.Writer, cfg *Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))) // validated by Config
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
