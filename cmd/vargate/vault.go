package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"sort"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
)

// Environment variables of the credential vault's key provider. They are
// read here rather than in Config because only the vault uses them; the
// PIN is never printed.
const (
	envKeyProvider    = "VARGATE_KEY_PROVIDER" // local (default) or pkcs11
	envPKCS11Module   = "VARGATE_PKCS11_MODULE"
	envPKCS11Token    = "VARGATE_PKCS11_TOKEN_LABEL"
	envPKCS11PIN      = "VARGATE_PKCS11_PIN"
	envPKCS11KeyLabel = "VARGATE_PKCS11_KEY_LABEL"
)

const vaultHelp = `Manages the credential vault's key-encryption keys (KEKs).

  vargate vault rotate-kek [--no-new-key] [--json]

rotate-kek creates a new KEK in the key provider and rewraps every tenant
data key under it, one transaction per key, while gateways keep running:
they pick up the new KEK from the key file or HSM token and can still
unwrap under the old one. Credentials are not re-encrypted. --no-new-key
only rewraps data keys still under older KEKs (to finish an interrupted
rotation). An older KEK may be removed once it is reported unused.

Key provider (environment):
  VARGATE_KEY_PROVIDER        local (default: DATA_DIR/kek.key, mode 0600) or pkcs11
  VARGATE_PKCS11_MODULE       PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
  VARGATE_PKCS11_TOKEN_LABEL  token label
  VARGATE_PKCS11_PIN          user PIN
  VARGATE_PKCS11_KEY_LABEL    KEK label (default vargate-kek)`

func runVault(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "rotate-kek" {
		fmt.Fprintf(env.stderr, "Usage: vargate vault rotate-kek [flags]\n\n%s\n", vaultHelp)
		return errUsage
	}
	var noNew, asJSON bool
	cfg, pos, err := loadConfig(env, "vault rotate-kek", "vault rotate-kek [flags]", vaultHelp, args[1:], func(fs *flag.FlagSet) {
		fs.BoolVar(&noNew, "no-new-key", false, "only rewrap data keys still under older KEKs")
		fs.BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintf(env.stderr, "vargate vault rotate-kek: unexpected argument %q\n", pos[0])
		return errUsage
	}
	db, ms, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckSchema(ctx, ms); err != nil {
		return err
	}
	log := discardLogger()
	// Rotation releases no value, so it needs no auditor.
	v, closeKeys, err := openVault(ctx, cfg, env.getenv, db, nil, log)
	if err != nil {
		return err
	}
	defer closeKeys()
	var rep vault.RotateReport
	if noNew {
		rep, err = v.Rewrap(ctx)
	} else {
		rep, err = v.RotateKEK(ctx)
	}
	if asJSON {
		out := map[string]any{"kek_id": rep.KEK, "rewrapped": rep.Rewrapped, "remaining": rep.Remaining}
		if err != nil {
			out["error"] = err.Error()
		}
		if perr := printJSON(env.stdout, out); perr != nil {
			return perr
		}
		return err
	}
	if rep.KEK != "" {
		fmt.Fprintf(env.stdout, "current KEK: %s\nrewrapped data keys: %d\n", rep.KEK, rep.Rewrapped)
	}
	ids := make([]string, 0, len(rep.Remaining))
	for id := range rep.Remaining {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(env.stdout, "still under %s: %d data keys (run again with --no-new-key)\n", id, rep.Remaining[id])
	}
	if err == nil && len(ids) == 0 {
		fmt.Fprintln(env.stdout, "no data key uses an older KEK; older KEKs may be retired")
	}
	return err
}

// keyProviderConfig reads the key provider settings from the environment.
func keyProviderConfig(cfg *Config, getenv func(string) string) vault.KeyProviderConfig {
	return vault.KeyProviderConfig{
		Provider: getenv(envKeyProvider),
		DataDir:  cfg.DataDir,
		PKCS11: vault.PKCS11Config{
			Module:     getenv(envPKCS11Module),
			TokenLabel: getenv(envPKCS11Token),
			PIN:        getenv(envPKCS11PIN),
			KeyLabel:   getenv(envPKCS11KeyLabel),
		},
	}
}

// openVault opens the configured key provider (creating the local key file
// on first start) and returns the vault over db, after checking that the
// provider holds every KEK the stored data keys need. The returned func
// closes the provider.
func openVault(ctx context.Context, cfg *Config, getenv func(string) string, db *sqlstore.DB, auditor vault.Auditor, log *slog.Logger) (*vault.Vault, func() error, error) {
	keys, err := vault.OpenKeyProvider(ctx, keyProviderConfig(cfg, getenv), log)
	if err != nil {
		return nil, nil, fmt.Errorf("credential vault: %w", err)
	}
	v := vault.New(sqlstore.NewVaultStore(db), keys, auditor, log)
	if err := v.Check(ctx); err != nil {
		keys.Close()
		return nil, nil, fmt.Errorf("credential vault: %w", err)
	}
	return v, keys.Close, nil
}

// anthropicFallback is the operator's ANTHROPIC_API_KEY, used for tenants
// that registered no `anthropic` credential (zero when unset).
func anthropicFallback(cfg *Config) vault.Secret {
	return vault.EnvSecret(vault.AnthropicToolID, vault.TypeAPIKey, "ANTHROPIC_API_KEY", cfg.AnthropicAPIKey)
}

// vaultAuditor writes the vault's operations to the tenant's audit trail as
// credential records: which credential, which version, for which action —
// never the value.
type vaultAuditor struct{ log *audit.Log }

// RecordCredentialAccess implements vault.Auditor.
func (a vaultAuditor) RecordCredentialAccess(ctx context.Context, x vault.Access) error {
	m := map[string]any{
		"op":              x.Op,
		"credential_id":   x.CredentialID,
		"name":            x.Name,
		"credential_type": x.Type,
		"version":         x.Version,
		"source":          x.Source,
		"fingerprint":     x.Fingerprint,
	}
	audit.AddActorName(ctx, x.Actor, m)
	detail, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = a.log.Append(ctx, audit.Record{
		TenantID:  x.TenantID,
		Time:      x.At,
		Source:    audit.SourceCredential,
		SessionID: x.SessionID,
		ActionID:  x.ActionID,
		Tool:      x.ToolID,
		Actor:     x.Actor,
		Detail:    detail,
	})
	return err
}
