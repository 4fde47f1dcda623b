package sim

import (
	"encoding/json"
	"maps"
)

// Tool and toolset types, and permission policies.
const (
	toolsetBuiltin = "agent_toolset_20260401"
	toolsetMCP     = "mcp_toolset"
	toolCustom     = "custom"

	policyAllow = "always_allow"
	policyAsk   = "always_ask"
	policyAuto  = "auto"
)

// maxTools bounds the tools array of an agent.
const maxTools = 128

// isBuiltinTool reports whether name is a tool of agent_toolset_20260401.
func isBuiltinTool(name string) bool {
	switch name {
	case "bash", "edit", "read", "write", "glob", "grep", "web_fetch", "web_search":
		return true
	}
	return false
}

func validPolicy(p string) bool { return p == policyAllow || p == policyAsk || p == policyAuto }

// toolConfig is one resolved per-tool entry of a toolset's configs.
type toolConfig struct {
	Name    string
	Enabled bool
	Policy  string
	// Extra holds the built-in tool's other settings (allowed_domains…),
	// echoed back unchanged.
	Extra map[string]json.RawMessage
}

// toolset is one entry of an agent's tools: the built-in toolset, an MCP
// toolset, or a custom tool. It is resolved: defaults are filled in, as the
// real API returns them.
type toolset struct {
	Type           string
	MCPServerName  string
	DefaultEnabled bool
	DefaultPolicy  string
	Configs        []toolConfig

	// Custom tool fields.
	Name        string
	Description string
	InputSchema json.RawMessage
}

type policyWire struct {
	Type string `json:"type"`
}

// MarshalJSON writes the resolved wire form of the toolset.
func (t toolset) MarshalJSON() ([]byte, error) {
	if t.Type == toolCustom {
		return json.Marshal(map[string]any{
			"type": t.Type, "name": t.Name, "description": t.Description, "input_schema": t.InputSchema,
		})
	}
	configs := make([]map[string]any, 0, len(t.Configs))
	for _, c := range t.Configs {
		m := map[string]any{"name": c.Name, "enabled": c.Enabled, "permission_policy": policyWire{c.Policy}}
		if t.Type == toolsetBuiltin {
			m["type"] = c.Name
			for k, v := range c.Extra {
				m[k] = v
			}
			if c.Name == "web_fetch" {
				m["url_sources"] = urlSources(c.Extra["url_sources"])
			}
		}
		configs = append(configs, m)
	}
	m := map[string]any{
		"type":           t.Type,
		"default_config": map[string]any{"enabled": t.DefaultEnabled, "permission_policy": policyWire{t.DefaultPolicy}},
		"configs":        configs,
	}
	if t.Type == toolsetMCP {
		m["mcp_server_name"] = t.MCPServerName
	}
	return json.Marshal(m)
}

// toolParam is the request form of one tools entry.
type toolParam struct {
	Type          string `json:"type"`
	MCPServerName string `json:"mcp_server_name"`
	DefaultConfig *struct {
		Enabled          *bool       `json:"enabled"`
		PermissionPolicy *policyWire `json:"permission_policy"`
	} `json:"default_config"`
	Configs     []map[string]json.RawMessage `json:"configs"`
	Name        string                       `json:"name"`
	Description string                       `json:"description"`
	InputSchema json.RawMessage              `json:"input_schema"`
}

// parseTools validates and resolves the tools array of an agent create or
// update.
func parseTools(raw []json.RawMessage) ([]toolset, error) {
	if len(raw) > maxTools {
		return nil, invalid("tools: at most %d tools are allowed", maxTools)
	}
	out := make([]toolset, 0, len(raw))
	var sawBuiltin bool
	customNames := map[string]bool{}
	for i, r := range raw {
		var p toolParam
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, invalid("tools[%d]: %v", i, err)
		}
		switch p.Type {
		case toolsetBuiltin, toolsetMCP:
			t, err := resolveToolset(i, p)
			if err != nil {
				return nil, err
			}
			if p.Type == toolsetBuiltin {
				if sawBuiltin {
					return nil, invalid("tools[%d]: only one %s entry is allowed", i, toolsetBuiltin)
				}
				sawBuiltin = true
			}
			out = append(out, t)
		case toolCustom:
			if p.Name == "" || p.Description == "" || len(p.InputSchema) == 0 {
				return nil, invalid("tools[%d]: custom tools need name, description and input_schema", i)
			}
			if customNames[p.Name] || isBuiltinTool(p.Name) {
				return nil, invalid("tools[%d].name: duplicate tool name %q", i, p.Name)
			}
			customNames[p.Name] = true
			out = append(out, toolset{Type: toolCustom, Name: p.Name, Description: p.Description, InputSchema: p.InputSchema})
		case "":
			return nil, invalid("tools[%d].type: field required", i)
		default:
			return nil, invalid("tools[%d].type: unknown tool type %q", i, p.Type)
		}
	}
	return out, nil
}

func resolveToolset(i int, p toolParam) (toolset, error) {
	t := toolset{Type: p.Type, DefaultEnabled: true, DefaultPolicy: policyAllow}
	if p.Type == toolsetMCP {
		if p.MCPServerName == "" {
			return t, invalid("tools[%d].mcp_server_name: field required", i)
		}
		t.MCPServerName = p.MCPServerName
		t.DefaultPolicy = policyAsk // MCP toolsets ask by default
	}
	if d := p.DefaultConfig; d != nil {
		if d.Enabled != nil {
			t.DefaultEnabled = *d.Enabled
		}
		if d.PermissionPolicy != nil {
			if !validPolicy(d.PermissionPolicy.Type) {
				return t, invalid("tools[%d].default_config.permission_policy.type: unknown policy %q", i, d.PermissionPolicy.Type)
			}
			t.DefaultPolicy = d.PermissionPolicy.Type
		}
	}
	seen := map[string]bool{}
	for j, raw := range p.Configs {
		c := toolConfig{Enabled: t.DefaultEnabled, Policy: t.DefaultPolicy}
		extra := maps.Clone(raw)
		if err := takeJSON(extra, "name", &c.Name); err != nil || c.Name == "" {
			return t, invalid("tools[%d].configs[%d].name: field required", i, j)
		}
		var typ string
		if err := takeJSON(extra, "type", &typ); err != nil {
			return t, invalid("tools[%d].configs[%d].type: %v", i, j, err)
		}
		if err := takeJSON(extra, "enabled", &c.Enabled); err != nil {
			return t, invalid("tools[%d].configs[%d].enabled: %v", i, j, err)
		}
		var pol *policyWire
		if err := takeJSON(extra, "permission_policy", &pol); err != nil {
			return t, invalid("tools[%d].configs[%d].permission_policy: %v", i, j, err)
		}
		if pol != nil {
			if !validPolicy(pol.Type) {
				return t, invalid("tools[%d].configs[%d].permission_policy.type: unknown policy %q", i, j, pol.Type)
			}
			c.Policy = pol.Type
		}
		if p.Type == toolsetBuiltin {
			if !isBuiltinTool(c.Name) || (typ != "" && typ != c.Name) {
				return t, invalid("tools[%d].configs[%d].name: unknown built-in tool %q", i, j, c.Name)
			}
			if len(extra) > 0 {
				c.Extra = extra
			}
		} else if len(extra) > 0 {
			for k := range extra {
				return t, invalid("tools[%d].configs[%d].%s: Extra inputs are not permitted", i, j, k)
			}
		}
		if seen[c.Name] {
			return t, invalid("tools[%d].configs[%d].name: duplicate config for %q", i, j, c.Name)
		}
		seen[c.Name] = true
		t.Configs = append(t.Configs, c)
	}
	return t, nil
}

// takeJSON decodes m[key] into dst, if present, and removes it from m.
func takeJSON(m map[string]json.RawMessage, key string, dst any) error {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	delete(m, key)
	return json.Unmarshal(raw, dst)
}

// toolPolicy reports the permission policy of a tool and whether the agent
// can use it at all. server is empty for built-in tools and names the MCP
// server otherwise.
func toolPolicy(tools []toolset, server, name string) (policy string, usable bool) {
	for _, t := range tools {
		if (server == "" && t.Type != toolsetBuiltin) || (server != "" && (t.Type != toolsetMCP || t.MCPServerName != server)) {
			continue
		}
		for _, c := range t.Configs {
			if c.Name == name {
				return c.Policy, c.Enabled
			}
		}
		return t.DefaultPolicy, t.DefaultEnabled
	}
	return "", false
}

// urlSources returns a web_fetch url_sources with the documented default
// ("all") for every source the request left out.
func urlSources(raw json.RawMessage) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out) // checked against the SDK's types already
	for _, k := range []string{"client_tool_results", "server_tool_results", "user_input"} {
		if out[k] == nil {
			out[k] = map[string]string{"type": "all"}
		}
	}
	return out
}
