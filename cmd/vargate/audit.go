package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
)

const auditHelp = `Checks the audit trail directly in the configured database; the gateway
may be running or stopped.

  vargate audit verify [--tenant ID] [--public-key KEY] [--checkpoint FILE]… [--json]

For every tenant (or the one given) it checks that sequence numbers run
1, 2, … without gaps, that every record's hash covers its contents and
links to the record before, that the Merkle root at every signed
checkpoint matches the records, and that no signed checkpoint is larger
than the log (tail truncation). It names the first record at fault.

Checkpoint signatures are checked with --public-key (a note verifier key
as GET /audit/checkpoint returns it, or a file holding one); by default the
key is derived from the gateway's signing key in the data directory.
--checkpoint adds signed checkpoints you kept outside the database (the
note, or the JSON of GET /audit/checkpoint): a log cut back below one of
them is caught even if the stored checkpoints were deleted too.

Exit status 1 if any chain is not valid.`

// auditKeyPath is where the gateway keeps its checkpoint signing key.
func auditKeyPath(cfg *Config) string { return filepath.Join(cfg.DataDir, "audit-signing.key") }

// errNotValid reports verification that ran and found a fault (printed).
var errNotValid = errors.New("audit evidence is not valid")

func runAudit(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return helpRequested(env, args, fmt.Sprintf("Usage: vargate audit verify [flags]\n\n%s\n", auditHelp))
	}
	var tenant, publicKey string
	var checkpoints stringList
	var asJSON bool
	cfg, pos, err := loadConfig(env, "audit verify", "audit verify [flags]", auditHelp, args[1:], dbFlags, func(fs *flag.FlagSet) {
		fs.StringVar(&tenant, "tenant", "", "verify only this tenant's chain (default: every tenant)")
		fs.StringVar(&publicKey, "public-key", "", "checkpoint verifier key, or a file holding it (default: from the data directory's signing key)")
		fs.Var(&checkpoints, "checkpoint", "a signed checkpoint kept outside the database (file; repeatable)")
		fs.BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintf(env.stderr, "vargate audit verify: unexpected argument %q\n", pos[0])
		return errUsage
	}
	db, err := openExisting(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	st := sqlstore.NewAuditStore(db)
	var v *audit.Verifier
	if publicKey != "" {
		v, err = readPublicKey(publicKey)
	} else {
		var s *audit.Signer
		if s, err = audit.LoadKey(auditKeyPath(cfg)); err == nil {
			v = s.Verifier()
		} else if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("no signing key at %s: pass --public-key (GET /audit/checkpoint shows it) or --data-dir", auditKeyPath(cfg))
		}
	}
	if err != nil {
		return err
	}
	trusted := map[string][]string{} // tenant → notes
	for _, path := range checkpoints {
		note, err := readCheckpointFile(path)
		if err != nil {
			return err
		}
		origin, _, _ := strings.Cut(note, "\n")
		t, ok := strings.CutPrefix(origin, v.Name()+"/")
		if !ok {
			return fmt.Errorf("%s: checkpoint origin %q is not one of key %q's logs", path, origin, v.Name())
		}
		trusted[t] = append(trusted[t], note)
	}

	tenants := []string{tenant}
	if tenant == "" {
		if tenants, err = st.Tenants(ctx); err != nil {
			return err
		}
		for t := range trusted {
			if !slices.Contains(tenants, t) {
				tenants = append(tenants, t) // a kept checkpoint of a log that vanished
			}
		}
	}
	results := make([]audit.VerifyResult, 0, len(tenants))
	valid := true
	for _, t := range tenants {
		res, err := audit.Verify(ctx, st, v, t, trusted[t]...)
		if err != nil {
			return err
		}
		valid = valid && res.Valid
		results = append(results, res)
		if !asJSON {
			printVerifyResult(env.stdout, res)
		}
	}
	if asJSON {
		if err := printJSON(env.stdout, map[string]any{"valid": valid, "tenants": results}); err != nil {
			return err
		}
	} else if len(tenants) == 0 {
		fmt.Fprintln(env.stdout, "no audit records yet")
	}
	if !valid {
		return errNotValid
	}
	return nil
}

func printVerifyResult(w io.Writer, res audit.VerifyResult) {
	if res.Valid {
		fmt.Fprintf(w, "tenant %s: valid — %d records, %d signed checkpoints matched, root %s\n",
			res.TenantID, res.RecordsChecked, res.CheckpointsChecked, res.Root)
		return
	}
	at := "outside the records"
	if res.FirstInvalidSeq > 0 {
		at = fmt.Sprintf("first invalid record %d", res.FirstInvalidSeq)
	}
	fmt.Fprintf(w, "tenant %s: NOT VALID — %s (%d records checked before it): %s\n", res.TenantID, at, res.RecordsChecked, res.Reason)
}

// readPublicKey accepts a note verifier key, or a file holding one alone
// or as the "public_key" of a GET /audit/checkpoint response.
func readPublicKey(arg string) (*audit.Verifier, error) {
	v, keyErr := audit.NewVerifier(arg)
	if keyErr == nil {
		return v, nil
	}
	b, err := os.ReadFile(arg)
	if errors.Is(err, os.ErrNotExist) && strings.Contains(arg, "+") {
		// Shaped like a key (name+hash+key), not like a file name.
		return nil, fmt.Errorf("--public-key %q is not a valid checkpoint verifier key (want name+hash+key, as GET /audit/checkpoint shows it): %v", truncate(arg, 80), keyErr)
	}
	if err != nil {
		return nil, fmt.Errorf("--public-key is neither a checkpoint verifier key (name+hash+key, as GET /audit/checkpoint shows it) nor a readable file: %w", err)
	}
	var doc struct {
		PublicKey string `json:"public_key"`
	}
	if json.Unmarshal(b, &doc) == nil && doc.PublicKey != "" {
		return audit.NewVerifier(doc.PublicKey)
	}
	return audit.NewVerifier(string(b))
}

// readCheckpointFile reads a signed checkpoint note, alone or as the
// "checkpoint" of a GET /audit/checkpoint response.
func readCheckpointFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var doc struct {
		Checkpoint string `json:"checkpoint"`
	}
	if json.Unmarshal(b, &doc) == nil && doc.Checkpoint != "" {
		return doc.Checkpoint, nil
	}
	return string(b), nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Placeholder names the value in help.
func (l *stringList) Placeholder() string { return "file" }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
