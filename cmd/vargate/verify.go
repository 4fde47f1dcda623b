package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/compliance"
)

const verifyHelp = `Verifies exported audit evidence offline, trusting nothing but the public
key you give it.

  vargate verify FILE --public-key KEY [--json]

FILE is an audit bundle (GET /audit/bundle) or a document that carries one
in its top-level field "chain_verification" (a compliance export). KEY is
the gateway's checkpoint verifier key (name+hash+key, as GET
/audit/checkpoint shows it) or a file holding it; get it from the operator
through a channel other than the bundle.

It checks the checkpoint's Ed25519 signature, every record's hash over its
contents, the links between consecutive records, and that every record is
in the signed Merkle tree — by recomputing the root from a whole log, or by
each record's inclusion proof. Exit status 1 if the evidence is not valid.`

func runVerify(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "verify", "verify FILE --public-key KEY [--json]", verifyHelp)
	publicKey := fs.String("public-key", "", "checkpoint verifier key, or a file holding it (required)")
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	// Flags may come before or after FILE.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) != 1:
		fmt.Fprintf(env.stderr, "vargate verify: one FILE expected, got %d: vargate verify FILE --public-key KEY\n", len(pos))
		return errUsage
	case *publicKey == "":
		fmt.Fprintln(env.stderr, "vargate verify: --public-key is required: the gateway's checkpoint verifier key (GET /audit/checkpoint shows it as public_key) or a file holding it, obtained apart from the evidence")
		return errUsage
	}
	v, err := readPublicKey(*publicKey)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	b, err := audit.DecodeBundle(data)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	// A compliance export (a document with a session and its
	// chain_verification) is checked whole: its session checkpoint proves
	// no record was left out, and its timeline, summary and controls must
	// follow from the verified records. Anything else gets the bundle check.
	res := audit.VerifyBundle(b, v)
	var probe struct {
		Session           json.RawMessage `json:"session"`
		ChainVerification json.RawMessage `json:"chain_verification"`
	}
	if json.Unmarshal(data, &probe) == nil && len(probe.Session) > 0 && len(probe.ChainVerification) > 0 {
		res = compliance.VerifyExport(data, v)
	}
	if *asJSON {
		if err := printJSON(env.stdout, res); err != nil {
			return err
		}
	} else {
		kind := "whole log"
		if len(b.Proofs) > 0 {
			kind = "selected records with inclusion proofs"
		}
		fmt.Fprintf(env.stdout, "%s: %d records (%s), checkpoint of tenant %s\n", pos[0], len(b.Records), kind, b.TenantID)
		printVerifyResult(env.stdout, res)
	}
	if !res.Valid {
		return errNotValid
	}
	return nil
}
