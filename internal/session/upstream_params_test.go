package session

import (
	"encoding/json"
	"testing"

	"github.com/vargate/vargate/internal/agent"
)

// The built-in toolset is built from the SDK's typed params; its wire form
// is what the gateway always sent: governed tools always_ask, the web
// tools held to the allowed domains, or off when there are none.
func TestBuiltinToolsetWireForm(t *testing.T) {
	cases := []struct {
		name string
		cfg  agent.Config
		want string
	}{
		{"unrestricted, nothing governed", agent.Config{GovernanceProfile: agent.GovernanceProfile{Network: agent.NetworkUnrestricted}},
			`{"configs":[],"type":"agent_toolset_20260401"}`},
		{"governed write, limited with domains", agent.Config{
			GovernedBuiltinTools: []string{"write"},
			GovernanceProfile:    agent.GovernanceProfile{Network: agent.NetworkLimited, AllowedDomains: []string{"*.example.com", "example.com"}},
		}, `{"configs":[` +
			`{"allowed_domains":["example.com"],"name":"web_fetch"},` +
			`{"allowed_domains":["example.com"],"name":"web_search"},` +
			`{"permission_policy":{"type":"always_ask"},"name":"write"}` +
			`],"type":"agent_toolset_20260401"}`},
		{"limited without domains", agent.Config{GovernanceProfile: agent.GovernanceProfile{Network: agent.NetworkLimited}},
			`{"configs":[{"enabled":false,"name":"web_fetch"},{"enabled":false,"name":"web_search"}],"type":"agent_toolset_20260401"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := json.Marshal(builtinToolset(c.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(c.want)) {
				t.Errorf("toolset = %s\nwant      %s", got, c.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}
