package sim

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// agentBody is an agents.new body with most optional parts set.
const agentBody = `{"name":"research","description":"d","system":"s",
"model":{"id":"claude-sonnet-4-6","effort":"low","speed":"standard"},
"mcp_servers":[{"type":"url","name":"vargate-governance","url":"https://gw.example/mcp"}],
"tools":[{"type":"agent_toolset_20260401","configs":[{"name":"write","permission_policy":{"type":"always_ask"}},
{"name":"web_fetch","allowed_domains":["example.com"]}]},
{"type":"mcp_toolset","mcp_server_name":"vargate-governance","default_config":{"permission_policy":{"type":"always_allow"}}}],
"skills":[{"type":"anthropic","skill_id":"xlsx"}],"metadata":{"team":"qa"}}`

// FuzzCheckParams: the checker never panics, whatever the body, and what
// it accepts is a JSON object the SDK's own decoder reads as its type.
func FuzzCheckParams(f *testing.F) {
	for _, seed := range []string{agentBody, `{}`, `[]`, `null`, `{"name":1}`, `{"tools":[{"type":"x"}]}`,
		`{"model":{"effort":{"type":"max"}}}`, `{"multiagent":{"type":"coordinator","agents":["a",{"type":"self"}]}}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if err := checkParams[anthropic.BetaAgentNewParams]([]byte(body)); err != nil {
			if !strings.Contains(err.Error(), "invalid_request_error") {
				t.Fatalf("error %v is not an invalid_request_error", err)
			}
			return
		}
		var p anthropic.BetaAgentNewParams
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("accepted %s, but the SDK cannot decode it: %v", body, err)
		}
		if p.Name == "" && !strings.Contains(body, `"name"`) {
			t.Fatalf("accepted %s without the required name", body)
		}
	})
}

func TestCheckParamsAcceptsRichAgent(t *testing.T) {
	if err := checkParams[anthropic.BetaAgentNewParams]([]byte(agentBody)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCheckParams measures the check of one agents.new body, which
// the simulator runs before every create.
func BenchmarkCheckParams(b *testing.B) {
	body := []byte(agentBody)
	b.ReportAllocs()
	for b.Loop() {
		if err := checkParams[anthropic.BetaAgentNewParams](body); err != nil {
			b.Fatal(err)
		}
	}
}
