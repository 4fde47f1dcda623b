package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
)

const tenantHelp = `Manages tenants directly in the configured database (the gateway may be
running or not).

  vargate tenant create NAME [--json]   create a tenant and its first admin key
  vargate tenant list [--json]          list tenants

The admin key is printed once; only its hash is stored.`

func runTenant(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		return helpRequested(env, args, fmt.Sprintf("Usage: vargate tenant create NAME | list\n\n%s\n", tenantHelp))
	}
	sub := args[0]
	usageLine := "tenant list [flags]"
	if sub == "create" {
		usageLine = "tenant create NAME [flags]"
	}
	var asJSON bool
	cfg, pos, err := loadConfig(env, "tenant "+sub, usageLine, tenantHelp, args[1:], dbFlags, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	})
	if err != nil {
		return err
	}
	switch {
	case sub == "create" && len(pos) == 0:
		fmt.Fprintln(env.stderr, "vargate tenant create: a tenant name is required: vargate tenant create NAME")
		return errUsage
	case sub == "create" && len(pos) > 1:
		fmt.Fprintf(env.stderr, "vargate tenant create: one name expected, got %d (%q); quote a name with spaces\n", len(pos), pos)
		return errUsage
	case sub == "list" && len(pos) > 0:
		fmt.Fprintf(env.stderr, "vargate tenant list: unexpected argument %q\n", pos[0])
		return errUsage
	}
	svc, closeDB, err := adminService(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	switch sub {
	case "create":
		t, err := svc.CreateTenant(ctx, pos[0])
		if err != nil {
			return err
		}
		k, secret, err := svc.CreateKey(ctx, auth.KeyRequest{TenantID: t.ID, Role: vargate.RoleAdmin, Name: "initial"})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(env.stdout, map[string]string{"tenant_id": t.ID, "name": t.Name, "api_key": secret, "key_id": k.ID, "role": string(k.Role)})
		}
		fmt.Fprintf(env.stdout, "tenant %s (%s) created\nadmin API key (shown once, not stored): %s\n", t.Name, t.ID, secret)
	case "list":
		ts, err := svc.Store.ListTenants(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if ts == nil {
				ts = []auth.Tenant{}
			}
			return printJSON(env.stdout, map[string]any{"tenants": ts})
		}
		for _, t := range ts {
			fmt.Fprintf(env.stdout, "%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format("2006-01-02T15:04:05Z"))
		}
	}
	return nil
}

// adminService opens the existing store and the audit log for the admin
// subcommands: what they change is recorded with the actor "cli", signed
// with the gateway's checkpoint key.
func adminService(ctx context.Context, env *environment, cfg *Config) (*auth.Service, func(), error) {
	db, err := openExisting(ctx, env, cfg)
	if err == nil {
		err = checkSigningKey(cfg)
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		return nil, nil, err
	}
	log, err := openAuditLog(cfg, db, discardLogger())
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	svc := auth.NewService(sqlstore.NewAuthStore(db))
	svc.Audit, svc.Actor = log, audit.ActorCLI
	svc.Agents = agentLookup{agent.New(sqlstore.NewAgentStore(db), log)}
	// A key revoked here cancels the actions it queued; their audit
	// records and webhooks are left to the gateway's sweeper, which has
	// the webhook outbox.
	cancel := approval.New(sqlstore.NewApprovalStore(db), nil, discardLogger())
	cancel.SettleLater = true
	svc.Revocations = cancel
	return svc, func() { log.Close(); db.Close() }, nil
}

// checkSigningKey makes sure an admin command signs with the gateway's
// checkpoint key rather than a new one of its own: the key must be in the
// data directory, unless that directory holds the SQLite database (it is
// then the gateway's, which would make the key the same way).
func checkSigningKey(cfg *Config) error {
	if !cfg.UsesPostgres() && filepath.Dir(cfg.SQLitePath()) == filepath.Clean(cfg.DataDir) {
		return nil
	}
	if _, err := os.Stat(auditKeyPath(cfg)); err != nil {
		return fmt.Errorf("no audit signing key at %s: run admin commands with the gateway's data directory (--data-dir, VARGATE_DATA_DIR), where it keeps its keys", auditKeyPath(cfg))
	}
	return nil
}

// openAuditLog opens the audit log with the gateway's signing key (from
// the data directory).
func openAuditLog(cfg *Config, db *sqlstore.DB, logger *slog.Logger) (*audit.Log, error) {
	signer, err := audit.LoadOrCreateKey(filepath.Join(cfg.DataDir, "audit-signing.key"), "")
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	l := audit.New(sqlstore.NewAuditStore(db), signer)
	l.Logger = logger
	if err := l.Open(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return l, nil
}

// agentLookup lets auth check that an agent key's agent exists in its
// tenant.
type agentLookup struct{ agents *agent.Service }

func (a agentLookup) AgentExists(ctx context.Context, tenantID, agentID string) error {
	_, err := a.agents.Get(ctx, tenantID, agentID)
	return err
}

// resolveTenant accepts a tenant ID or name.
func resolveTenant(ctx context.Context, svc *auth.Service, ref string) (auth.Tenant, error) {
	if t, err := svc.Store.GetTenant(ctx, ref); err == nil {
		return t, nil
	}
	t, err := svc.Store.GetTenantByName(ctx, ref)
	if err != nil {
		return auth.Tenant{}, fmt.Errorf("tenant %q: %w", ref, err)
	}
	return t, nil
}
