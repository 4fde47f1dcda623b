package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADMEWalkthrough runs the README's quick start and the tour after
// it, top to bottom, in a fresh copy of the repository: every fenced sh
// command as written, none edited. What the README says to run "in
// another terminal" runs after the line before it, which keeps serving
// (the gateway), is started in the background and answers /health.
// A command fails the walk-through when it exits non-zero or, for curl,
// when the gateway answers with an error document.
//
// The README's ports (8000, 9000) are fixed, so the walk-through runs in
// a network namespace of its own (unshare -rn) where no other test
// listens; without unshare it is skipped. It needs bash, curl and jq.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the README (about half a minute); not in -short")
	}
	for _, tool := range []string{"bash", "curl", "jq", "unshare", "ip", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if err := exec.Command("unshare", "-rn", "true").Run(); err != nil {
		t.Skipf("no network namespace for the README's fixed ports: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, string(readme), "## Quick start", "## Configuration")
	if len(blocks) < 8 {
		t.Fatalf("found %d sh blocks in the quick start and tour", len(blocks))
	}
	dir := copyRepo(t, "../..")
	script := walkthroughScript(t, blocks)
	if err := os.WriteFile(filepath.Join(dir, ".readme-walkthrough.sh"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", "bash", "-c", "ip link set lo up && exec bash .readme-walkthrough.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "VARGATE_API_KEY=", "VARGATE_DATA_DIR=")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		gw, _ := os.ReadFile(filepath.Join(dir, ".readme-gateway.log"))
		t.Fatalf("the README walk-through failed: %v\n--- script\n%s\n--- output\n%s\n--- gateway log (tail)\n%s",
			err, script, out, tail(string(gw), 4000))
	}
	for _, want := range []string{
		`"name":"acme"`,                          // the acme key works against the running gateway
		"database: sqlite data-guide/vargate.db", // the admin commands used the gateway's database
		"valid",                                  // audit verify and verify
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the walk-through's output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("the walk-through made a second data directory ./data")
	}
}

// readmeBlocks returns the fenced sh blocks between the headings from and
// to.
func readmeBlocks(t *testing.T, readme, from, to string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, from)
	if !ok {
		t.Fatalf("README has no %q", from)
	}
	section, _, _ := strings.Cut(rest, to)
	var blocks []string
	for {
		_, after, ok := strings.Cut(section, "```sh\n")
		if !ok {
			return blocks
		}
		block, after2, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatal("unterminated sh block in the README")
		}
		blocks = append(blocks, block)
		section = after2
	}
}

// walkthroughScript is the blocks as one bash script. The command before a
// "# in another terminal" comment keeps running: it starts in the
// background and the script waits for the gateway to answer.
func walkthroughScript(t *testing.T, blocks []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`set -eu -o pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
# curl as written, but a gateway error document fails the walk-through.
curl() {
  local out rc=0
  out=$(command curl "$@") || rc=$?
  printf '%s\n' "$out"
  if [[ $out == '{"error":'* ]]; then echo "README command failed: curl $*" >&2; return 1; fi
  return $rc
}
`)
	var serving bool
	for _, block := range blocks {
		// Join continued lines, so that a command is one line.
		var lines []string
		sc := bufio.NewScanner(strings.NewReader(block))
		var cur string
		for sc.Scan() {
			line := sc.Text()
			if strings.HasSuffix(line, `\`) {
				cur += line + "\n"
				continue
			}
			lines = append(lines, cur+line)
			cur = ""
		}
		for i, line := range lines {
			if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "# in another terminal") {
				if serving {
					t.Fatal("two long-running commands in the README walk-through")
				}
				serving = true
				b.WriteString("{ " + line + "\n} > .readme-gateway.log 2>&1 &\n")
				b.WriteString("for i in $(seq 600); do command curl -sf localhost:8000/health >/dev/null && break; sleep 0.1; done\n")
				b.WriteString("command curl -sf localhost:8000/health >/dev/null || { echo 'the gateway did not start' >&2; exit 1; }\n")
				continue
			}
			b.WriteString(line + "\n")
		}
	}
	if !serving {
		t.Fatal(`the README's quick start has no "# in another terminal" after the gateway`)
	}
	return b.String()
}

// copyRepo copies the repository's files (tracked and untracked, not
// ignored) to a new directory: a fresh clone of the working tree.
func copyRepo(t *testing.T, root string) string {
	t.Helper()
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	// The same directory every time for this working tree: the build
	// cache is keyed on source paths, so the README's go build is quick
	// after the first run.
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(abs))
	dir := filepath.Join(os.TempDir(), "vargate-readme-"+hex.EncodeToString(sum[:6]))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		src, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
