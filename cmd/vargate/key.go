package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
)

const keyHelp = `Manages API keys directly in the configured database.

  vargate key create --tenant T --role ROLE [--agent AGENT_ID] [--name N] [--json]
  vargate key list --tenant T [--json]
  vargate key revoke --tenant T KEY_ID

Roles: admin (everything in its tenant), approver (read, approve/reject),
auditor (read-only), agent (MCP tool calls only; needs --agent, the agent
configuration whose rules govern it). T is a tenant ID or name.`

func runKey(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		return helpRequested(env, args, fmt.Sprintf("Usage: vargate key create | list | revoke\n\n%s\n", keyHelp))
	}
	sub := args[0]
	var tenantRef, role, agentID, name string
	var asJSON bool
	cfg, pos, err := loadConfig(env, "key "+sub, "key "+sub+" [flags]", keyHelp, args[1:], dbFlags, func(fs *flag.FlagSet) {
		fs.StringVar(&tenantRef, "tenant", "", "tenant ID or name (required)")
		fs.StringVar(&role, "role", "", "admin, approver, auditor or agent (create)")
		fs.StringVar(&agentID, "agent", "", "agent configuration ID (create, agent role)")
		fs.StringVar(&name, "name", "", "a label for the key (create)")
		fs.BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	})
	if err != nil {
		return err
	}
	if tenantRef == "" {
		fmt.Fprintf(env.stderr, "vargate key %s: --tenant is required (a tenant ID or name; vargate tenant list shows them)\n", sub)
		return errUsage
	}
	// Everything that needs no database is checked before it is opened.
	switch {
	case sub == "create" && !vargate.Role(role).Valid():
		fmt.Fprintf(env.stderr, "vargate key create: --role %q: want admin, approver, auditor or agent\n", role)
		return errUsage
	case sub == "create" && vargate.Role(role) == vargate.RoleAgent && agentID == "":
		fmt.Fprintln(env.stderr, "vargate key create: --role agent needs --agent AGENT_ID, the agent configuration whose rules govern the key")
		return errUsage
	case sub == "revoke" && len(pos) != 1:
		fmt.Fprintln(env.stderr, "vargate key revoke: one KEY_ID expected: vargate key revoke --tenant T KEY_ID")
		return errUsage
	case sub != "revoke" && len(pos) > 0:
		fmt.Fprintf(env.stderr, "vargate key %s: unexpected argument %q\n", sub, pos[0])
		return errUsage
	}
	svc, closeDB, err := adminService(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := resolveTenant(ctx, svc, tenantRef)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return fmt.Errorf("%w in %s (vargate tenant list shows the tenants there)", err, storeName(cfg))
	}
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		k, secret, err := svc.CreateKey(ctx, auth.KeyRequest{TenantID: t.ID, Role: vargate.Role(role), AgentID: agentID, Name: name})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(env.stdout, map[string]string{"key_id": k.ID, "tenant_id": t.ID, "role": string(k.Role), "agent_id": k.AgentID, "api_key": secret})
		}
		fmt.Fprintf(env.stdout, "key %s (%s) created for tenant %s\nAPI key (shown once, not stored): %s\n", k.ID, k.Role, t.Name, secret)
	case "list":
		ks, err := svc.Store.ListKeys(ctx, t.ID)
		if err != nil {
			return err
		}
		if asJSON {
			if ks == nil {
				ks = []auth.APIKey{}
			}
			return printJSON(env.stdout, map[string]any{"keys": ks})
		}
		for _, k := range ks {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked"
			}
			fmt.Fprintf(env.stdout, "%s\t%s\t%s…\t%s\t%s\n", k.ID, k.Role, k.Prefix, state, k.AgentID)
		}
	case "revoke":
		if err := svc.RevokeKey(ctx, t.ID, pos[0]); err != nil {
			return err
		}
		if asJSON {
			return printJSON(env.stdout, map[string]any{"key_id": pos[0], "revoked": true})
		}
		fmt.Fprintf(env.stdout, "key %s revoked\n", pos[0])
	}
	return nil
}
