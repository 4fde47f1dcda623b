package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/help")

// helpCases are the help texts a newcomer reads: every command's and
// every subcommand's.
var helpCases = [][]string{
	{"--help"},
	{"serve", "--help"}, {"demo", "--help"}, {"migrate", "--help"}, {"config", "--help"},
	{"tenant", "--help"}, {"tenant", "create", "--help"}, {"tenant", "list", "--help"},
	{"key", "--help"}, {"key", "create", "--help"}, {"key", "list", "--help"}, {"key", "revoke", "--help"},
	{"policy", "--help"}, {"policy", "test", "--help"},
	{"vault", "--help"}, {"vault", "rotate-kek", "--help"},
	{"audit", "--help"}, {"audit", "verify", "--help"},
	{"verify", "--help"}, {"sim", "--help"}, {"anomaly", "--help"}, {"bench", "--help"},
	{"healthcheck", "--help"}, {"version", "--help"},
}

// TestHelpGolden keeps every help text in testdata/help (go test
// -run TestHelpGolden -update rewrites them) and checks what each must
// be: asked-for help goes to stdout and exits 0; a flag's value is named
// by its type, never "string" for a boolean nor a word lifted from
// `quotes` in its description; only serve lists the gateway's settings.
func TestHelpGolden(t *testing.T) {
	for _, args := range helpCases {
		name := strings.TrimSuffix(strings.ReplaceAll(strings.Join(args, "_"), "--help", "help"), "_")
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &environment{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
			err := run(t.Context(), env, args)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("vargate %s: exit status 1 (%v), want 0", strings.Join(args, " "), err)
			}
			if stderr.Len() != 0 {
				t.Errorf("help went to stderr:\n%s", stderr.String())
			}
			out := stdout.String()
			golden := filepath.Join("testdata", "help", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("help differs from %s (run with -update if intended):\n%s", golden, out)
			}
			checkHelpText(t, args[0], out)
		})
	}
}

// flagLine is a flag's line in help: "  --name [ARG]".
var flagLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)(?: (.+))?$`)

func checkHelpText(t *testing.T, cmd, out string) {
	t.Helper()
	cfg := &Config{}
	arg := map[string]string{}
	for _, s := range cfg.settings() {
		arg[s.flag] = s.arg
	}
	bools := map[string]bool{"json": true, "exit": true, "print-config": true, "no-new-key": true, "v": true}
	for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
		name, placeholder := m[1], m[2]
		if (arg[name] == "bool" || bools[name]) && placeholder != "" {
			t.Errorf("boolean flag --%s shown with a value %q", name, placeholder)
		}
		if strings.ContainsAny(placeholder, "` ") || placeholder == "value" {
			t.Errorf("flag --%s: placeholder %q", name, placeholder)
		}
		if _, isSetting := arg[name]; cmd == "serve" && isSetting && arg[name] != "bool" && placeholder != arg[name] {
			t.Errorf("flag --%s: placeholder %q, want %q", name, placeholder, arg[name])
		}
	}
	if cmd != "serve" && strings.Contains(out, "--allow-private-targets") {
		t.Errorf("vargate %s lists the gateway's settings:\n%s", cmd, out)
	}
	if cmd == "--help" {
		// Every summary starts in one column.
		var col int
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
				continue
			}
			c := strings.Index(line[2+len(f[0]):], f[1]) + 2 + len(f[0])
			if col == 0 {
				col = c
			} else if c != col {
				t.Errorf("command list misaligned at %q", line)
			}
		}
	}
}
