package govern

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// allows reports whether allowed_tools lets an agent call name: an exact
// entry, or a glob pattern ("github__*") that matches it, as the base
// policy's tool_allowed rule decides.
func allows(allowed []string, name string) bool {
	for _, a := range allowed {
		if a == name {
			return true
		}
		if strings.ContainsAny(a, "*?[") {
			if ok, err := path.Match(a, name); err == nil && ok {
				return true
			}
		}
	}
	return false
}

// describeTool adds what the policy may know of an upstream tool to the
// call: the upstream's name and the tool's annotations, with the MCP
// defaults (destructive and open-world unless the server says otherwise).
func describeTool(c *policy.Call, t *tools.Tool) {
	if t.Upstream == "" {
		return
	}
	c.Upstream = t.Upstream
	var a struct {
		ReadOnly    bool  `json:"readOnlyHint"`
		Destructive *bool `json:"destructiveHint"`
		Idempotent  bool  `json:"idempotentHint"`
		OpenWorld   *bool `json:"openWorldHint"`
	}
	if len(t.Annotations) > 0 {
		_ = json.Unmarshal(t.Annotations, &a) // pinned as valid JSON; a bad one keeps the defaults
	}
	c.Annotations = &policy.Annotations{
		ReadOnly:    a.ReadOnly,
		Destructive: a.Destructive == nil || *a.Destructive,
		Idempotent:  a.Idempotent,
		OpenWorld:   a.OpenWorld == nil || *a.OpenWorld,
	}
}
