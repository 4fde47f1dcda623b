package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs vargate with VARGATE_DATA_DIR=dir (and auto-migrate on, as
// by default) and returns stdout, stderr and the error.
func runIn(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &environment{stdout: &out, stderr: &errOut, getenv: func(k string) string {
		return map[string]string{"VARGATE_DATA_DIR": dir}[k]
	}}
	err := run(t.Context(), env, args)
	return out.String(), errOut.String(), err
}

// Admin commands never create a database: run where there is none, each
// says so, names the database it looked for, and leaves nothing behind.
func TestAdminCommandsRefuseToCreateADatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"tenant", "list"}, {"tenant", "create", "acme"},
		{"key", "create", "--tenant", "nope", "--role", "admin"}, {"key", "list", "--tenant", "default"},
		{"key", "revoke", "--tenant", "default", "key-1"},
		{"audit", "verify"}, {"vault", "rotate-kek"},
	} {
		_, stderr, err := runIn(t, dir, args...)
		if err == nil || !strings.Contains(err.Error(), "no database at "+filepath.Join(dir, "vargate.db")) || !strings.Contains(err.Error(), "vargate migrate") {
			t.Errorf("vargate %s: %v %s, want a refusal naming the database", strings.Join(args, " "), err, stderr)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("vargate %s created %s", strings.Join(args, " "), dir)
		}
	}
	// migrate creates it; then the admin commands say which one they use.
	if _, stderr, err := runIn(t, dir, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, stderr)
	}
	out, stderr, err := runIn(t, dir, "tenant", "create", "acme")
	if err != nil || !strings.Contains(out, "tenant acme") || !strings.Contains(stderr, "database: sqlite "+filepath.Join(dir, "vargate.db")) {
		t.Errorf("tenant create: %v\n%s%s", err, out, stderr)
	}
	// A tenant that is not there: the message names the database looked in.
	if _, _, err := runIn(t, dir, "key", "create", "--tenant", "nope", "--role", "admin"); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(dir, "vargate.db")) || !strings.Contains(err.Error(), "vargate tenant list") {
		t.Errorf("key create for a missing tenant: %v", err)
	}
}

// Mistakes on the command line get a message that says what is wrong,
// before any database is touched.
func TestCLIErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, stderr, err := runIn(t, dir, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, stderr)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "create"}, "a tenant name is required"},
		{[]string{"tenant", "create", "a", "b"}, "one name expected"},
		{[]string{"key", "create", "--tenant", "nope", "--role", "superuser"}, `--role "superuser": want admin, approver, auditor or agent`},
		{[]string{"key", "create", "--role", "admin"}, "--tenant is required"},
		{[]string{"key", "create", "--tenant", "default", "--role", "agent"}, "--role agent needs --agent"},
		{[]string{"key", "revoke", "--tenant", "default"}, "one KEY_ID expected"},
		{[]string{"verify", "bundle.json"}, "--public-key is required"},
		{[]string{"verify"}, "one FILE expected"},
		{[]string{"verify", "bundle.json", "--public-key", "vargate-audit+0a1b2c3d+AQID"}, `is not a valid checkpoint verifier key`},
		{[]string{"audit", "verify", "--public-key", "vargate-audit+zz+AQID"}, `is not a valid checkpoint verifier key`},
		{[]string{"verify", "bundle.json", "--public-key", "keyfile"}, "neither a checkpoint verifier key"},
		{[]string{"serve", "extra-arg"}, `unexpected argument "extra-arg"`},
		{[]string{"migrate", "now"}, `unexpected argument "now"`},
		{[]string{"config", "--listen", ":1"}, "flag provided but not defined: -listen"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		out, stderr, err := runIn(t, dir, tt.args...)
		msg := out + stderr
		if err != nil && !errors.Is(err, errUsage) {
			msg += err.Error()
		}
		if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(msg, tt.want) {
			t.Errorf("vargate %s: %v\n%s\nwant an error saying %q", strings.Join(tt.args, " "), err, msg, tt.want)
		}
		if strings.Contains(msg, "not found") {
			t.Errorf("vargate %s looked something up before checking its arguments: %s", strings.Join(tt.args, " "), msg)
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, err := runIn(t, dir, args...)
		if err != nil || !strings.HasPrefix(out, "vargate ") {
			t.Errorf("vargate %s: %v %q", args[0], err, out)
		}
	}
}

// A lost admin key is replaced with `vargate key create --tenant default
// --role admin`, which the first start prints and every restart logs.
func TestLostAdminKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	g := startServe(t, map[string]string{"VARGATE_DATA_DIR": dir})
	const hint = "vargate key create --tenant default --role admin --data-dir " // not ./data here
	if !strings.Contains(g.Stderr.String(), hint+dir) {
		t.Errorf("first start gives no recovery command:\n%s", g.Stderr)
	}
	g.Stop(t)
	out, stderr, err := runIn(t, dir, "key", "create", "--tenant", "default", "--role", "admin")
	if err != nil {
		t.Fatalf("key create: %v %s", err, stderr)
	}
	newKey := strings.Fields(out[strings.Index(out, "vgk_"):])[0]
	g = startServe(t, map[string]string{"VARGATE_DATA_DIR": dir})
	if g.Key != "" || !strings.Contains(g.Stderr.String(), "admin key lost?") || !strings.Contains(g.Stderr.String(), hint+dir) {
		t.Errorf("restart gives no recovery hint:\n%s", g.Stderr)
	}
	if code, body := g.do(t, "GET", "/api/tenant", newKey, ""); code != 200 || body["name"] != "default" {
		t.Errorf("the recovered key: %d %v", code, body)
	}
}
