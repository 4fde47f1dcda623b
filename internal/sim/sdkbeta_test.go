package sim_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// sdkBetaTestFiles are the official SDK's own tests of the Managed Agents
// endpoints. Each calls one endpoint with every optional parameter set.
var sdkBetaTestFiles = []string{
	"betaagent_test.go", "betaagentversion_test.go", "betaenvironment_test.go", "betavault_test.go",
	"betavaultcredential_test.go", "betasession_test.go", "betasessionevent_test.go", "betasessionthread_test.go",
	"betasessionthreadevent_test.go", "betasessionresource_test.go",
}

// sdkBetaSkip lists the SDK tests of endpoints the simulator does not
// serve, with the reason (docs/SIMULATOR.md).
var sdkBetaSkip = map[string]string{
	"TestBetaVaultCredentialMCPOAuthValidateWithOptionalParams": "mcp_oauth credentials are not simulated",
}

// sdkBetaRefused lists the SDK tests whose example values the API itself
// refuses, with the refusal the simulator must give: the SDK's tests are
// generated for a mock server that accepts any well-typed value.
var sdkBetaRefused = map[string]string{
	"TestBetaAgentGetWithOptionalParams":               "version: must be a positive integer",          // version=0
	"TestBetaAgentListWithOptionalParams":              "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaAgentVersionListWithOptionalParams":       "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaSessionEventListWithOptionalParams":       "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaSessionListWithOptionalParams":            "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaSessionThreadEventListWithOptionalParams": "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaVaultCredentialListWithOptionalParams":    "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaVaultListWithOptionalParams":              "limit: must be an integer between 1 and 100",  // limit=0
	"TestBetaSessionResourceListWithOptionalParams":    "limit: must be an integer between 1 and 1000", // limit=0
	"TestBetaSessionThreadListWithOptionalParams":      "limit: must be an integer between 1 and 1000", // limit=0
	"TestBetaEnvironmentListWithOptionalParams":        "page: invalid pagination cursor",              // page="page"
	// An MCP server no mcp_toolset references (the SDK's docs: "Every
	// server must be referenced by an mcp_toolset").
	"TestBetaAgentNewWithOptionalParams":    "is not referenced by any mcp_toolset",
	"TestBetaAgentUpdateWithOptionalParams": "is not referenced by any mcp_toolset",
	// vault_ids "string"; on update, vault_ids is "Not yet supported;
	// requests setting this field are rejected" (the SDK's docs).
	"TestBetaSessionNewWithOptionalParams":    "vault_ids[0]: vault string not found",
	"TestBetaSessionUpdateWithOptionalParams": "vault_ids: can only be set when the session is created",
	// An mcp_oauth auth update of a static_bearer credential.
	"TestBetaVaultCredentialUpdateWithOptionalParams": "cannot change a static_bearer credential",
}

// placeholderID matches the example IDs of the SDK's tests
// ("agent_011CZkYpogX7uDKUyvBTophP"); workspace and file IDs are kept.
var placeholderID = regexp.MustCompile(`"((?:agent|env|sesn|sesrsc|sthr|vcrd|vlt)_011C[0-9A-Za-z]+)"`)

// TestSDKBetaTests runs the official Go SDK's own tests of the Managed
// Agents endpoints against the simulator, each with fresh real objects in
// place of the SDK's placeholder IDs. It compiles the SDK's tests in a
// scratch module (about a minute of CPU), so it runs only when
// VARGATE_SDK_BETA_TESTS=1.
func TestSDKBetaTests(t *testing.T) {
	if os.Getenv("VARGATE_SDK_BETA_TESTS") != "1" {
		t.Skip("set VARGATE_SDK_BETA_TESTS=1 to run the SDK's own beta tests against the simulator")
	}
	bin, names := buildSDKBetaTests(t)
	f := newFixture(t, sim.Options{})
	if err := f.sim.RegisterScenario(sim.Scenario{Name: "sdkbeta", Steps: []sim.Step{
		{Type: sim.StepSubagent, Agent: "helper", Steps: []sim.Step{{Type: sim.StepMessage, Text: "ok"}}},
		{Type: sim.StepEndTurn},
	}}); err != nil {
		t.Fatal(err)
	}
	passed, refused := 0, 0
	for _, name := range names {
		if why, ok := sdkBetaSkip[name]; ok {
			t.Logf("%s: skipped: %s", name, why)
			continue
		}
		cmd := exec.CommandContext(t.Context(), bin, "-test.run", "^"+name+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TEST_API_BASE_URL="+f.url)
		for placeholder, real := range sdkBetaObjects(t, f) {
			cmd.Env = append(cmd.Env, "SDKBETA_"+placeholder+"="+real)
		}
		out, err := cmd.CombinedOutput()
		ok := err == nil && strings.Contains(string(out), "PASS")
		msg := string(out)
		if i := strings.Index(msg, "err should be nil: "); i >= 0 {
			msg, _, _ = strings.Cut(msg[i+len("err should be nil: "):], "\n")
		}
		want, mustRefuse := sdkBetaRefused[name]
		switch {
		case ok && !mustRefuse:
			passed++
		case ok:
			t.Errorf("%s: accepted, but the API refuses its example values (%s)", name, want)
		case mustRefuse && strings.Contains(msg, `"invalid_request_error"`) && strings.Contains(msg, want):
			refused++
		default:
			t.Errorf("%s against the simulator: %s", name, msg)
		}
	}
	t.Logf("SDK beta tests against the simulator: %d pass, %d refused as the API would, %d skipped, of %d",
		passed, refused, len(sdkBetaSkip), len(names))
}

// sdkBetaObjects creates what one SDK test needs and returns the real ID
// for each placeholder: agents (the second is the first's predefined
// sub-agent), an environment, a vault with a credential, and a session
// with a repository resource and a sub-agent thread.
func sdkBetaObjects(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	ctx := t.Context()
	helper := f.newAgent(t, "", false)
	ag := f.newAgent(t, "", false)
	env := f.newEnvironment(t, "sdkbeta-"+ag.ID)
	v := f.newVault(t, "https://example-server.modelcontextprotocol.io/sse", "tok")
	creds, err := f.client.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
	if err != nil || len(creds.Data) != 1 {
		t.Fatalf("credentials: %v", err)
	}
	sess, err := f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ag.ID)},
		EnvironmentID: env.ID,
		Metadata:      map[string]string{sim.MetadataScenarioKey: "sdkbeta"},
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
			URL: "https://github.com/example-org/example-repo",
		}}},
	})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	f.send(t, sess.ID, userMessage("go"))
	if err := f.sim.WaitIdle(ctxFor(t), sess.ID, "end_turn"); err != nil {
		t.Fatal(err)
	}
	threads, err := f.client.Beta.Sessions.Threads.List(ctx, sess.ID, anthropic.BetaSessionThreadListParams{})
	if err != nil || len(threads.Data) != 2 {
		t.Fatalf("threads: %v", err)
	}
	return map[string]string{
		"agent_011CZkYpogX7uDKUyvBTophP":  ag.ID,
		"agent_011CZkYqphY8vELVzwCUpqiQ":  helper.ID,
		"env_011CZkZ9X2dpNyB7HsEFoRfW":    env.ID,
		"sesn_011CZkZAtmR3yMPDzynEDxu7":   sess.ID,
		"sesrsc_011CZkZBJq5dWxk9fVLNcPht": sess.Resources[0].ID,
		"sthr_011CZkZVWa6oJjw1rgXZpnBt":   threads.Data[1].ID,
		"vcrd_011CZkZEMt8gZan2iYPQfSkw":   creds.Data[0].ID,
		"vlt_011CZkZDLs7fYzm1hXNPeRjv":    v.ID,
	}
}

// buildSDKBetaTests copies the SDK's beta tests into a scratch module —
// placeholders read from SDKBETA_<placeholder>, the SDK's internal
// testutil replaced by a stub — compiles them, and returns the test
// binary and the test names.
func buildSDKBetaTests(t *testing.T) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/anthropics/anthropic-sdk-go/v2").Output()
	if err != nil {
		t.Fatalf("locate the SDK: %v", err)
	}
	sdkDir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(filepath.Dir(strings.TrimSpace(string(root))), "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", fmt.Sprintf("module sdkbeta\n\ngo 1.24\n\nrequire github.com/anthropics/anthropic-sdk-go/v2 %s\n", version))
	write("go.sum", string(sum))
	write("doc.go", "// Package sdkbeta holds the SDK's beta tests, pointed at the simulator.\npackage sdkbeta\n")
	write("testutil/testutil.go", `// Package testutil stands in for the SDK's internal test helpers.
package testutil

import (
	"os"
	"testing"
)

// CheckTestServer reports that the test server (the simulator) is up.
func CheckTestServer(t *testing.T, url string) bool { return true }

// ID returns the real ID for one of the SDK tests' placeholder IDs.
func ID(placeholder string) string {
	if v := os.Getenv("SDKBETA_" + placeholder); v != "" {
		return v
	}
	return placeholder
}
`)
	var names []string
	testName := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	for _, name := range sdkBetaTestFiles {
		src, err := os.ReadFile(filepath.Join(sdkDir, name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(src), "package anthropic_test", "package sdkbeta_test", 1)
		s = strings.Replace(s, `"github.com/anthropics/anthropic-sdk-go/v2/internal/testutil"`, `"sdkbeta/testutil"`, 1)
		s = placeholderID.ReplaceAllString(s, `testutil.ID("$1")`)
		write(name, s)
		for _, m := range testName.FindAllStringSubmatch(s, -1) {
			names = append(names, m[1])
		}
	}
	bin := filepath.Join(dir, "sdkbeta.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile the SDK's beta tests: %v\n%s", err, out)
	}
	slices.Sort(names)
	return bin, names
}
