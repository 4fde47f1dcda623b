package sim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

// freeForm are the keys whose objects take any keys: maps of the user's
// own (metadata) and JSON Schema or tool input the API does not type.
var freeForm = map[string]bool{"metadata": true, "input_schema": true, "properties": true, "input": true}

// objectPaths returns the path of every object inside v that is not
// free-form, the root included.
func objectPaths(v any, path []any, out *[][]any) {
	switch x := v.(type) {
	case map[string]any:
		*out = append(*out, append([]any{}, path...))
		for k, e := range x {
			if !freeForm[k] {
				objectPaths(e, append(path, k), out)
			}
		}
	case []any:
		for i, e := range x {
			objectPaths(e, append(path, i), out)
		}
	}
}

// withExtra returns a copy of body with key added to the object at path.
func withExtra(t *testing.T, body []byte, path []any, key string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	node := v
	for _, p := range path {
		switch k := p.(type) {
		case string:
			node = node.(map[string]any)[k]
		case int:
			node = node.([]any)[k]
		}
	}
	node.(map[string]any)[key] = "surprise"
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnknownFieldsRefusedAnywhere: for valid bodies of every kind the
// gateway sends (rich ones, with every optional part set), a key the SDK
// does not declare, added to any object at any depth, is refused with 400
// naming it — not only at the top level the examples show.
func TestUnknownFieldsRefusedAnywhere(t *testing.T) {
	f := newFixture(t, sim.Options{})
	mcp := newMCPServer(t)
	ag := f.newAgent(t, "", false)
	env := f.newEnvironment(t, "e")
	sess := f.newSession(t, ag.ID, "follow_up")

	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bodies := []struct {
		name, method, path string
		body               []byte
	}{
		{"agents.new", "POST", "/v1/agents", marshal(richAgentParams(mcp.URL))},
		{"sessions.new", "POST", "/v1/sessions", marshal(anthropic.BetaSessionNewParams{
			Agent: anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgentWithOverridess: &anthropic.BetaManagedAgentsAgentWithOverridesParams{
				ID: ag.ID, Version: anthropic.Int(1), System: anthropic.String("governed"),
			}},
			EnvironmentID: env.ID,
			Title:         anthropic.String("t"),
			Budget: anthropic.BetaManagedAgentsBudgetLimitParam{MaxListCost: anthropic.BetaMonetaryAmountParam{
				Amount: "2500", Currency: anthropic.BetaCurrencyUSD,
			}},
			Resources: []anthropic.BetaSessionNewParamsResourceUnion{{OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
				URL: "https://github.com/vargate/vargate",
				Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{
					OfBranch: &anthropic.BetaManagedAgentsBranchCheckoutParam{Name: "main"},
				},
			}}},
			InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
				Description: "a report",
				Rubric:      anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfText: &anthropic.BetaManagedAgentsTextRubricParams{Content: "complete"}},
			}}},
		})},
		{"events.send", "POST", "/v1/sessions/" + sess.ID + "/events", marshal(anthropic.BetaSessionEventSendParams{
			Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hello"), {OfSystemMessage: &anthropic.BetaManagedAgentsSystemMessageEventParams{
				Content: []anthropic.BetaManagedAgentsSystemContentBlockParam{{Text: "context"}},
			}}},
		})},
		{"environments.new", "POST", "/v1/environments", marshal(anthropic.BetaEnvironmentNewParams{
			Name: "x", Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
				Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{
					AllowedHosts: []string{"example.com"}, AllowMCPServers: anthropic.Bool(true),
				}},
			}},
		})},
		{"credentials.new", "POST", "/v1/vaults/" + f.newVault(t, mcp.URL, "tok").ID + "/credentials", marshal(anthropic.BetaVaultCredentialNewParams{
			Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
				MCPServerURL: "https://other.example/mcp", Token: "tok",
			}},
		})},
	}
	for _, b := range bodies {
		var v any
		if err := json.Unmarshal(b.body, &v); err != nil {
			t.Fatal(err)
		}
		var paths [][]any
		objectPaths(v, nil, &paths)
		if len(paths) < 2 {
			t.Fatalf("%s: only %d objects in %s", b.name, len(paths), b.body)
		}
		for _, p := range paths {
			name := fmt.Sprintf("%s%v", b.name, p)
			t.Run(name, func(t *testing.T) {
				body := withExtra(t, b.body, p, "zz_undeclared")
				status, out := rawCall(t, f, b.method, b.path, string(body))
				if status != http.StatusBadRequest || !strings.Contains(string(out), "zz_undeclared: Extra inputs are not permitted") {
					t.Errorf("status %d, body %s; want 400 naming zz_undeclared\nrequest %s", status, out, body)
				}
			})
		}
	}
}
