package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/tools"
)

// nodeDir holds the TypeScript SDK and Inspector checks (package.json and
// package-lock.json are committed, node_modules is not).
const nodeDir = "testdata/node"

// needNode returns the node and npm commands, installing the packages on
// first use. Without Node the test is skipped, except under CI=true.
func needNode(t *testing.T) (node, npm string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Node clients")
	}
	var err error
	if node, err = exec.LookPath("node"); err == nil {
		npm, err = exec.LookPath("npm")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Node.js is required under CI: %v", err)
		}
		t.Skipf("Node.js not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = nodeDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return node, npm
}

// TestNodeClients runs the official TypeScript MCP SDK and the MCP
// Inspector CLI against the gateway.
func TestNodeClients(t *testing.T) {
	node, _ := needNode(t)
	g := newGateway(t, gatewayOptions{})
	session, _ := g.sessionToken(g.acme)
	ended, endedID := g.sessionToken(g.acme)
	// The ended session's token worked while the session was live.
	if _, err := g.connect(t, ended, "").ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	g.sessions.end(endedID)
	expect := []string{tools.WebSearch, tools.SendEmail, tools.ReadDatabase, tools.HTTPRequest, "crm_lookup", tools.ApprovalStatus}

	t.Run("typescript sdk", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "e2e.mjs")
		cmd.Dir = nodeDir
		cmd.Env = append(os.Environ(),
			"MCP_URL="+g.url, "AGENT_KEY="+g.acme.AgentKey, "SESSION_KEY="+session,
			"OTHER_TENANT_KEY="+g.globex.AgentKey, "ENDED_SESSION_KEY="+ended, "ADMIN_KEY="+g.acme.AdminKey,
			"EXPECT_TOOLS="+strings.Join(expect, ","))
		out, err := cmd.CombinedOutput()
		t.Logf("e2e.mjs:\n%s", out)
		if err != nil {
			t.Fatalf("e2e.mjs: %v", err)
		}
	})

	t.Run("inspector cli", func(t *testing.T) {
		home := t.TempDir()
		inspector := func(t *testing.T, token string, args ...string) (map[string]any, string, error) {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			argv := append([]string{filepath.Join("node_modules", ".bin", "mcp-inspector"), "--cli", g.url, "--transport", "http",
				"--stored-auth-only", "--header", "Authorization: Bearer " + token}, args...)
			cmd := exec.CommandContext(ctx, node, argv...)
			cmd.Dir = nodeDir
			// The Inspector keeps a catalog and secrets under HOME: a
			// throwaway one.
			cmd.Env = append(os.Environ(), "HOME="+home, "MCP_CATALOG_PATH="+filepath.Join(home, "catalog.json"), "NO_COLOR=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var m map[string]any
			_ = json.Unmarshal(stdout.Bytes(), &m)
			return m, stdout.String() + stderr.String(), err
		}
		for _, era := range [][]string{nil, {"--protocol-era", "modern"}} {
			name := "default era"
			if era != nil {
				name = "modern era"
			}
			t.Run(name, func(t *testing.T) {
				m, out, err := inspector(t, g.acme.AgentKey, append([]string{"--method", "tools/list"}, era...)...)
				if err != nil {
					t.Fatalf("tools/list: %v\n%s", err, out)
				}
				var names []string
				list, _ := m["tools"].([]any)
				for _, tl := range list {
					names = append(names, tl.(map[string]any)["name"].(string))
				}
				slices.Sort(names)
				want := slices.Clone(expect)
				slices.Sort(want)
				if !slices.Equal(names, want) {
					t.Errorf("tools = %v, want %v\n%s", names, want, out)
				}

				m, out, err = inspector(t, g.acme.AgentKey, append([]string{"--method", "tools/call", "--tool-name", tools.WebSearch, "--tool-arg", "query=inspector test"}, era...)...)
				if err != nil || m["isError"] == true || !strings.Contains(out, "Result for inspector test") {
					t.Errorf("allowed call: %v\n%s", err, out)
				}
				_, out, err = inspector(t, g.acme.AgentKey, append([]string{"--method", "tools/call", "--tool-name", tools.SendEmail,
					"--tool-arg", "to=bob@example.com", "subject=hi", "body=hello"}, era...)...)
				if err != nil || !strings.Contains(out, "Action pending human approval. Action ID: ") {
					t.Errorf("pending call: %v\n%s", err, out)
				}
				m, out, _ = inspector(t, g.acme.AgentKey, append([]string{"--method", "tools/call", "--tool-name", tools.WebSearch,
					"--tool-arg", "query=AKIAIOSFODNN7EXAMPLE"}, era...)...)
				if m["isError"] != true || !strings.Contains(out, "secret_in_arguments") {
					t.Errorf("denied call:\n%s", out)
				}
				_, out, err = inspector(t, "vgk_"+strings.Repeat("x", 43), append([]string{"--method", "tools/list"}, era...)...)
				if err == nil {
					t.Errorf("bad token accepted:\n%s", out)
				}
			})
		}
	})
}
