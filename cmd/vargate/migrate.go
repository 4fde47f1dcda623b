package main

import (
	"context"
	"fmt"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	cfg, _, err := loadConfig(env, "migrate", "migrate [flags]",
		"Applies the embedded schema migrations to the configured database and lists what is applied.\nSafe to run again: applied migrations are skipped.", args, nil)
	if err != nil {
		return err
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
	cfg, _, err := loadConfig(env, "config", "config [flags]",
		"Prints the effective configuration (defaults, then environment, then flags) with secrets masked.", args, nil)
	if err != nil {
		return err
	}
	cfg.Print(env.stdout)
	return nil
}
