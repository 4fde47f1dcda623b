package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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

// openExisting opens the database of an admin command (tenant, key,
// audit, vault): one that serve or migrate made, never a new one, and
// without migrating it. It says on stderr which database it opened, so a
// command pointed at another data directory than the gateway's is noticed
// at once rather than by a "tenant not found".
func openExisting(ctx context.Context, env *environment, cfg *Config) (*sqlstore.DB, error) {
	where := "the data directory is " + cfg.DataDir + " (--data-dir, VARGATE_DATA_DIR)"
	if cfg.UsesPostgres() {
		where = "DATABASE_URL is " + maskURL(cfg.DatabaseURL)
	}
	hint := `point --data-dir or DATABASE_URL at the gateway's database, or create one with "vargate migrate" or "vargate serve"`
	if !cfg.UsesPostgres() {
		if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s (%s): %s", cfg.SQLitePath(), where, hint)
		}
	}
	db, ms, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	vs, err := db.Applied(ctx)
	if err == nil && len(vs) == 0 {
		err = fmt.Errorf("%s has no Vargate schema (%s): %s", storeName(cfg), where, hint)
	}
	if err == nil {
		err = db.CheckSchema(ctx, ms)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	fmt.Fprintf(env.stderr, "database: %s\n", storeName(cfg))
	return db, nil
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

// Flags of the settings that commands other than serve offer.
var (
	// dbFlags: commands that only open the database.
	dbFlags = []string{"data-dir", "database-url"}
)

// loadConfig parses a subcommand's flags together with the configuration
// settings whose flags are in only (all of them when only is nil); the
// environment is read for every setting. It returns the positional
// arguments.
func loadConfig(env *environment, name, usageLine, description string, args []string, only []string, extra func(*flag.FlagSet)) (*Config, []string, error) {
	fs := newFlagSet(env, name, usageLine, description)
	if extra != nil {
		extra(fs)
	}
	return LoadConfigFlags(fs, args, env.getenv, only)
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
