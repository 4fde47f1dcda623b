package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func TestSimHelpDocumentsScenarios(t *testing.T) {
	var stderr syncBuffer // asked-for help goes to stdout
	env := &environment{stdin: strings.NewReader(""), stdout: &stderr, stderr: io.Discard, getenv: func(string) string { return "" }}
	err := run(t.Context(), env, []string{"sim", "--help"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("sim --help: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--listen", "--api-key", "--scenario", "mcp_tool", "static_bearer", "drop_stream", "vargate_scenario", "scenario:NAME", "docs/scenario-example.json"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("sim --help does not mention %q", want)
		}
	}
}

// vargate sim serves the API until its context ends, with the scenario file
// as the default.
func TestSimServes(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	var stderr syncBuffer
	env := &environment{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env, []string{"sim", "--listen", "127.0.0.1:0", "--api-key", "k", "--step-delay", "1ms",
			"--scenario", "../../docs/scenario-example.json", "--ready-file", ready})
	}()
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == ""; {
		if b, err := os.ReadFile(ready); err == nil {
			addr = string(b)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("vargate sim exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("vargate sim did not start:\n%s", stderr.String())
		}
	}
	c := anthropic.NewClient(option.WithBaseURL("http://"+addr), option.WithAPIKey("k"), option.WithMaxRetries(0))
	a, err := c.Beta.Agents.New(t.Context(), anthropic.BetaAgentNewParams{
		Name: "demo", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env2, err := c.Beta.Environments.New(t.Context(), anthropic.BetaEnvironmentNewParams{Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Beta.Sessions.New(t.Context(), anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, EnvironmentID: env2.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	// An open stream must not keep the shutdown waiting.
	st := c.Beta.Sessions.Events.StreamEvents(t.Context(), sess.ID, anthropic.BetaSessionEventStreamParams{})
	defer st.Close()
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "default_scenario=example") {
		t.Errorf("log does not name the scenario file's scenario as default:\n%s", stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vargate sim returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("vargate sim did not stop")
	}
}
