package govern

import (
	"context"
	"encoding/json"
	"path"
	"strings"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
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

// StaticDecider is a Decider that can tell when no call of a tool by an
// agent could be allowed, whatever its arguments and session
// (policy.Engine).
type StaticDecider interface {
	AlwaysDenied(ctx context.Context, in *policy.Input) (bool, error)
}

// hideDenied leaves out of a listing the tools the policy denies for
// every call the agent could make; when that cannot be told (no static
// decider, an error), the tool stays listed and each call is decided.
func (g *Governor) hideDenied(ctx context.Context, p vargate.Principal, cfg agent.Config, ts []*tools.Tool) []*tools.Tool {
	sd, ok := g.Policy.(StaticDecider)
	if !ok || len(ts) == 0 {
		return ts
	}
	in, err := g.input(ctx, p, cfg, policy.Call{}, nil, false) // a listing is no call: nothing reserved
	if err != nil {
		return ts
	}
	out := make([]*tools.Tool, 0, len(ts))
	for _, t := range ts {
		if t.Name != tools.ApprovalStatus {
			in.Call = policy.Call{Tool: t.Name}
			describeTool(&in.Call, t)
			if denied, err := sd.AlwaysDenied(ctx, in); err == nil && denied {
				continue
			}
		}
		out = append(out, t)
	}
	return out
}
