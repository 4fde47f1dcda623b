package sim

import (
	"encoding/json"
	"strconv"
)

// The API answers an agent's configuration in response form: defaults
// filled in, unions as objects, references resolved. These functions turn
// a request value (already checked against the SDK's parameter types)
// into that form.

// Defaults the API resolves when a request leaves them out.
const (
	defaultEffort       = "high"
	defaultSpeed        = "standard"
	defaultSkillVersion = "latest"
)

// normalizeModel returns the response form of a model config:
// {id, effort:{type}, speed[, inference_geo]}. effort may be sent as a bare
// level or as {type}; it is always answered as {type}.
func normalizeModel(raw json.RawMessage, old map[string]any) (map[string]any, error) {
	var p struct {
		ID           string          `json:"id"`
		Effort       json.RawMessage `json:"effort"`
		Speed        *string         `json:"speed"`
		InferenceGeo *string         `json:"inference_geo"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
		return nil, invalid("model.id: Field required")
	}
	m := map[string]any{"id": p.ID, "speed": defaultSpeed, "effort": map[string]string{"type": defaultEffort}}
	if e, ok := old["effort"]; ok { // on update, an omitted effort keeps the stored one
		m["effort"] = e
	}
	if len(p.Effort) > 0 && !isNull(p.Effort) {
		var level string
		if json.Unmarshal(p.Effort, &level) != nil {
			var obj struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(p.Effort, &obj)
			level = obj.Type
		}
		m["effort"] = map[string]string{"type": level}
	}
	if p.Speed != nil {
		m["speed"] = *p.Speed
	}
	if p.InferenceGeo != nil {
		m["inference_geo"] = *p.InferenceGeo
	}
	return m, nil
}

// normalizeSkills fills each skill's version (latest when not pinned).
func normalizeSkills(raw json.RawMessage) ([]json.RawMessage, error) {
	var skills []map[string]any
	if !isNull(raw) {
		if err := json.Unmarshal(raw, &skills); err != nil {
			return nil, invalid("skills: must be an array")
		}
	}
	out := make([]json.RawMessage, 0, len(skills))
	for _, sk := range skills {
		if v, _ := sk["version"].(string); v == "" {
			sk["version"] = defaultSkillVersion
		}
		b, err := json.Marshal(sk)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// agentRef resolves an agent roster entry to {type:"agent", id, version}.
// self is the agent being configured ({type:"self"}). The caller holds
// s.mu.
func (s *Server) agentRef(field string, entry any, self map[string]any) (map[string]any, error) {
	id, version := "", int64(0)
	switch e := entry.(type) {
	case string:
		id = e
	case map[string]any:
		switch e["type"] {
		case "self":
			return self, nil
		case "advisor":
			return e, nil
		}
		id, _ = e["id"].(string)
		if v, ok := e["version"].(float64); ok {
			version = int64(v)
		}
	}
	a, ok := s.agents.items[id]
	if !ok {
		return nil, invalid("%s: agent %s not found", field, id)
	}
	if version == 0 {
		version = a.latest().Version
	} else if version < 1 || version > int64(len(a.versions)) {
		return nil, invalid("%s: agent %s has no version %d", field, id, version)
	}
	return map[string]any{"type": "agent", "id": id, "version": version}, nil
}

// normalizeMultiagent returns the response form of a multiagent config:
// coordinator rosters resolved to agent references, and for
// multiagent_20261001 every part present (advisor disabled, sub-agents and
// workflows enabled with inline agents, by default). The caller holds s.mu.
func (s *Server) normalizeMultiagent(raw json.RawMessage, self map[string]any) (json.RawMessage, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("multiagent: must be an object")
	}
	refs := func(field string, list any) ([]any, error) {
		items, _ := list.([]any)
		out := make([]any, 0, len(items))
		for i, it := range items {
			ref, err := s.agentRef(field+"["+strconv.Itoa(i)+"]", it, self)
			if err != nil {
				return nil, err
			}
			out = append(out, ref)
		}
		return out, nil
	}
	switch m["type"] {
	case "coordinator":
		agents, err := refs("multiagent.agents", m["agents"])
		if err != nil {
			return nil, err
		}
		m["agents"] = agents
	case "multiagent_20261001":
		if m["advisor"] == nil {
			m["advisor"] = map[string]any{"type": "disabled"}
		}
		for _, part := range []string{"subagents", "workflows"} {
			p, _ := m[part].(map[string]any)
			if p == nil {
				p = map[string]any{"type": "enabled"}
			}
			if p["type"] == nil || p["type"] == "enabled" {
				p["type"] = "enabled"
				if p["inline_agents"] == nil {
					p["inline_agents"] = map[string]any{"type": "enabled"}
				}
				agents, err := refs("multiagent."+part+".predefined_agents", p["predefined_agents"])
				if err != nil {
					return nil, err
				}
				p["predefined_agents"] = agents
			}
			m[part] = p
		}
	}
	return json.Marshal(m)
}
