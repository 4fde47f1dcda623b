package main

import (
	"context"
	"fmt"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	cfg, pos, err := loadConfig(env, "migrate", "migrate [flags]",
		"Applies the embedded schema migrations to the configured database (creating it if\nneeded) and lists what is applied. Safe to run again: applied migrations are\nskipped. Run it to check a database's schema before or after an upgrade.", args, dbFlags, nil)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintf(env.stderr, "vargate migrate: unexpected argument %q\n", pos[0])
		return errUsage
	}
	db, ms, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx, ms)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s: %d migration(s) applied now\n", storeName(cfg), len(applied))
	rows, err := db.QueryContext(ctx, `SELECT version, description FROM schema_version ORDER BY version`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var d string
		if err := rows.Scan(&v, &d); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "  v%d: %s\n", v, d)
	}
	return rows.Err()
}

func runConfig(ctx context.Context, env *environment, args []string) error {
	cfg, pos, err := loadConfig(env, "config", "config",
		"Prints the effective configuration (defaults, then environment variables) with\nsecrets masked. To see what flags change: vargate serve --print-config [flags].", args, []string{}, nil)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintf(env.stderr, "vargate config: unexpected argument %q\n", pos[0])
		return errUsage
	}
	cfg.Print(env.stdout)
	return nil
}
