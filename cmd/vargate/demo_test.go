package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/testwait"
)

func demoEnv(stdout io.Writer) *environment {
	return &environment{stdin: strings.NewReader(""), stdout: stdout, stderr: io.Discard, getenv: func(string) string { return "" }}
}

// TestDemoWalkthrough runs `vargate demo --exit`: the walkthrough shows
// the governed search, the observed bash call, the e-mail held for a
// human with the command that approves it, and the compliance summary,
// then the demo ends and removes its temporary data directory.
func TestDemoWalkthrough(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stdout syncBuffer
	if err := run(ctx, demoEnv(&stdout), []string{"demo", "--listen", "127.0.0.1:0", "--exit", "--step-delay", "1ms"}); err != nil {
		t.Fatalf("demo: %v\n%s", err, stdout.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"export VARGATE_API_KEY=vgk_",
		`MCP server "vargate-governance"`,
		"governed  vargate_web_search   policy: allow → executed",
		"observed  bash",
		"governed  vargate_send_email   policy: require_approval → held for a human",
		"status awaiting_approval — governed 2, observed 1, denied 0, pending 1",
		"approval queue: 1 requested, 1 waiting for a human",
		"audit trail valid: the session's",
		"--exit: stopping the gateway",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the walkthrough does not show %q:\n%s", want, out)
		}
	}
	// The steps are numbered 1, 2, 3, … without a gap.
	steps := regexp.MustCompile(`(?m)^Step (\d+) `).FindAllStringSubmatch(out, -1)
	for i, m := range steps {
		if m[1] != strconv.Itoa(i+1) {
			t.Errorf("step %d is numbered %s", i+1, m[1])
		}
	}
	if len(steps) != 8 {
		t.Errorf("%d steps, want the guide's 8", len(steps))
	}
	// The expiry says its time zone.
	if !regexp.MustCompile(`expires at \d{4}-\d\d-\d\d \d\d:\d\d \S+ \(UTC[+-]\d\d:\d\d\)`).MatchString(out) {
		t.Errorf("the expiry has no time zone:\n%s", out)
	}
	// The gateway stops after the walkthrough: no command to run against it.
	if strings.Contains(out, "curl ") {
		t.Errorf("--exit prints curl commands for a gateway that is stopping:\n%s", out)
	}
	m := regexp.MustCompile(`\(data (\S+), log`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no data directory in the output")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s left behind (%v)", m[1], err)
	}
}

// TestDemoKeepsServing runs the demo without --exit: the approve command
// it prints works against the still-running gateway, the approved e-mail
// reaches the demo's mail sink, and cancelling (Ctrl-C) ends it cleanly.
func TestDemoKeepsServing(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, demoEnv(&stdout), []string{"demo", "--listen", "127.0.0.1:0", "--step-delay", "1ms"})
	}()
	waitFor := func(what string) {
		t.Helper()
		testwait.For(t, 2*time.Minute, fmt.Sprintf("the demo to print %q", what), func() bool {
			select {
			case err := <-done:
				t.Fatalf("demo ended before %q: %v\n%s", what, err, stdout.String())
			default:
			}
			return strings.Contains(stdout.String(), what)
		})
	}
	waitFor("until Ctrl-C")
	out := stdout.String()
	key := regexp.MustCompile(`VARGATE_API_KEY=(vgk_\S+)`).FindStringSubmatch(out)
	approve := regexp.MustCompile(`curl -X POST (\S+/api/approve/\S+)`).FindStringSubmatch(out)
	if key == nil || approve == nil {
		t.Fatalf("no key or approve command in the output:\n%s", out)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", approve[1], nil)
	req.Header.Set("X-API-Key", key[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the printed approve command: %s", resp.Status)
	}
	waitFor(`mail sink: received "Summary: EU AI Act obligations for GPAI models"`)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo ended with %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("demo did not stop after Ctrl-C")
	}
}
