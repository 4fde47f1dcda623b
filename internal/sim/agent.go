package sim

import (
	"github.com/anthropics/anthropic-sdk-go/v2"

	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// mcpServer is one entry of an agent's mcp_servers.
type mcpServer struct {
	Name string
	URL  string
}

// MarshalJSON writes the wire form {type:"url", name, url}.
func (m mcpServer) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"type": "url", "name": m.Name, "url": m.URL})
}

type mcpServerParam struct {
	Type string `json:"type"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// agentConfig is one immutable version of an agent's configuration. A new
// version is a new value; sessions keep a pointer to the one they use.
type agentConfig struct {
	Name              string
	Description       string
	System            string
	Model             map[string]any
	Tools             []toolset
	MCPServers        []mcpServer
	Skills            []json.RawMessage
	Multiagent        json.RawMessage
	ExecutionIdentity json.RawMessage
	Metadata          map[string]string
	Version           int64
	UpdatedAt         time.Time
}

// mcpServerURL returns the URL of the named MCP server.
func (c *agentConfig) mcpServerURL(name string) (string, bool) {
	for _, m := range c.MCPServers {
		if m.Name == name {
			return m.URL, true
		}
	}
	return "", false
}

// agent is a stored agent with all its versions.
type agent struct {
	record
	createdAt time.Time
	versions  []*agentConfig // versions[i].Version == i+1
}

func (a *agent) latest() *agentConfig { return a.versions[len(a.versions)-1] }

// wireLatest is the wire form of the agent's latest version.
func (a *agent) wireLatest() agentWire { return a.wire(a.latest()) }

// agentWire is the wire form of an agent (GET /v1/agents/{id}).
type agentWire struct {
	ID                string            `json:"id"`
	Type              string            `json:"type"`
	Name              string            `json:"name"`
	Description       string            `json:"description"`
	System            string            `json:"system"`
	Model             map[string]any    `json:"model"`
	Tools             []toolset         `json:"tools"`
	MCPServers        []mcpServer       `json:"mcp_servers"`
	Skills            []json.RawMessage `json:"skills"`
	Multiagent        json.RawMessage   `json:"multiagent"`
	ExecutionIdentity json.RawMessage   `json:"execution_identity"`
	Metadata          map[string]string `json:"metadata"`
	Version           int64             `json:"version"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	ArchivedAt        *time.Time        `json:"archived_at"`
}

// sessionAgentWire is the resolved agent snapshot a session carries.
type sessionAgentWire struct {
	ID                string            `json:"id"`
	Type              string            `json:"type"`
	Name              string            `json:"name"`
	Description       string            `json:"description"`
	System            string            `json:"system"`
	Model             map[string]any    `json:"model"`
	Tools             []toolset         `json:"tools"`
	MCPServers        []mcpServer       `json:"mcp_servers"`
	Skills            []json.RawMessage `json:"skills"`
	Multiagent        json.RawMessage   `json:"multiagent"`
	ExecutionIdentity json.RawMessage   `json:"execution_identity"`
	Version           int64             `json:"version"`
}

func (a *agent) wire(c *agentConfig) agentWire {
	return agentWire{
		ID: a.id, Type: "agent", Name: c.Name, Description: c.Description, System: c.System,
		Model: c.Model, Tools: nonNilSlice(c.Tools), MCPServers: nonNilSlice(c.MCPServers), Skills: nonNilSlice(c.Skills),
		Multiagent: nullIfEmpty(c.Multiagent), ExecutionIdentity: c.ExecutionIdentity, Metadata: nonNil(c.Metadata),
		Version: c.Version, CreatedAt: a.createdAt, UpdatedAt: c.UpdatedAt, ArchivedAt: a.archivedAt,
	}
}

func sessionAgent(id string, c *agentConfig) sessionAgentWire {
	return sessionAgentWire{
		ID: id, Type: "agent", Name: c.Name, Description: c.Description, System: c.System,
		Model: c.Model, Tools: nonNilSlice(c.Tools), MCPServers: nonNilSlice(c.MCPServers), Skills: nonNilSlice(c.Skills),
		Multiagent: nullIfEmpty(c.Multiagent), ExecutionIdentity: c.ExecutionIdentity, Version: c.Version,
	}
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nullIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// agentParams is the body of agent create and update. Raw fields tell
// "absent" (nil) from "null".
type agentParams struct {
	Name              json.RawMessage    `json:"name"`
	Description       json.RawMessage    `json:"description"`
	System            json.RawMessage    `json:"system"`
	Model             json.RawMessage    `json:"model"`
	Tools             json.RawMessage    `json:"tools"`
	MCPServers        json.RawMessage    `json:"mcp_servers"`
	Skills            json.RawMessage    `json:"skills"`
	Multiagent        json.RawMessage    `json:"multiagent"`
	ExecutionIdentity json.RawMessage    `json:"execution_identity"`
	Metadata          map[string]*string `json:"metadata"`
	Version           *int64             `json:"version"`
}

// defaultExecutionIdentity is what the real API reports when none is set.
func defaultExecutionIdentity() json.RawMessage { return json.RawMessage(`{"type":"service_account"}`) }

// apply writes the fields present in p onto c (a copy being built).
func (p *agentParams) apply(c *agentConfig) error {
	if v, set, err := optionalString("name", p.Name); err != nil {
		return err
	} else if set {
		if v == "" || utf8.RuneCountInString(v) > maxNameLen {
			return invalid("name: must be 1 to %d characters", maxNameLen)
		}
		c.Name = v
	}
	var err error
	if c.Description, _, err = keepOr("description", p.Description, c.Description); err != nil {
		return err
	}
	if c.System, _, err = keepOr("system", p.System, c.System); err != nil {
		return err
	}
	if utf8.RuneCountInString(c.System) > maxSystemPromptLn {
		return invalid("system: must be at most %d characters", maxSystemPromptLn)
	}
	if p.Model != nil {
		if c.Model, err = normalizeModel(p.Model, c.Model); err != nil {
			return err
		}
	}
	if p.Tools != nil {
		var raw []json.RawMessage
		if !isNull(p.Tools) {
			if err := json.Unmarshal(p.Tools, &raw); err != nil {
				return invalid("tools: must be an array")
			}
		}
		if c.Tools, err = parseTools(raw); err != nil {
			return err
		}
	}
	if p.MCPServers != nil {
		if c.MCPServers, err = parseMCPServers(p.MCPServers); err != nil {
			return err
		}
	}
	if p.Skills != nil {
		if c.Skills, err = normalizeSkills(p.Skills); err != nil {
			return err
		}
	}
	if p.Multiagent != nil {
		c.Multiagent = p.Multiagent
		if isNull(p.Multiagent) {
			c.Multiagent = nil
		}
	}
	if p.ExecutionIdentity != nil {
		c.ExecutionIdentity = p.ExecutionIdentity
		if isNull(p.ExecutionIdentity) {
			c.ExecutionIdentity = defaultExecutionIdentity()
		}
	}
	if p.Metadata != nil {
		if c.Metadata, err = patchMetadata(c.Metadata, p.Metadata, false); err != nil {
			return err
		}
	}
	return nil
}

// keepOr returns the string in raw when present (null clears), else old.
func keepOr(field string, raw json.RawMessage, old string) (string, bool, error) {
	v, set, err := optionalString(field, raw)
	if err != nil || !set {
		return old, false, err
	}
	return v, true, nil
}

func parseMCPServers(raw json.RawMessage) ([]mcpServer, error) {
	var params []mcpServerParam
	if !isNull(raw) {
		if err := json.Unmarshal(raw, &params); err != nil {
			return nil, invalid("mcp_servers: must be an array of {type, name, url}")
		}
	}
	if len(params) > maxMCPServers {
		return nil, invalid("mcp_servers: at most %d servers are allowed", maxMCPServers)
	}
	out := make([]mcpServer, 0, len(params))
	seen := map[string]bool{}
	for i, p := range params {
		if p.Type != "" && p.Type != "url" {
			return nil, invalid("mcp_servers[%d].type: must be \"url\"", i)
		}
		if p.Name == "" || utf8.RuneCountInString(p.Name) > maxMCPServerName {
			return nil, invalid("mcp_servers[%d].name: must be 1 to %d characters", i, maxMCPServerName)
		}
		if seen[p.Name] {
			return nil, invalid("mcp_servers[%d].name: duplicate server name %q", i, p.Name)
		}
		seen[p.Name] = true
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p.URL) > maxMCPServerURL {
			return nil, invalid("mcp_servers[%d].url: must be an http(s) URL of at most %d characters", i, maxMCPServerURL)
		}
		out = append(out, mcpServer{Name: p.Name, URL: p.URL})
	}
	return out, nil
}

// validateAgentConfig checks the rules that span fields: every MCP server is
// referenced by an mcp_toolset, and every mcp_toolset names a declared server.
func validateAgentConfig(c *agentConfig) error {
	if c.Name == "" {
		return invalid("name: field required")
	}
	if c.Model == nil {
		return invalid("model: field required")
	}
	referenced := map[string]bool{}
	for i, t := range c.Tools {
		if t.Type != toolsetMCP {
			continue
		}
		if _, ok := c.mcpServerURL(t.MCPServerName); !ok {
			return invalid("tools[%d].mcp_server_name: %q is not declared in mcp_servers", i, t.MCPServerName)
		}
		if referenced[t.MCPServerName] {
			return invalid("tools[%d].mcp_server_name: more than one mcp_toolset for %q", i, t.MCPServerName)
		}
		referenced[t.MCPServerName] = true
	}
	for i, m := range c.MCPServers {
		if !referenced[m.Name] {
			return invalid("mcp_servers[%d]: server %q is not referenced by any mcp_toolset in tools", i, m.Name)
		}
	}
	return nil
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) (any, error) {
	var p agentParams
	if err := decodeParams[anthropic.BetaAgentNewParams](w, r, &p); err != nil {
		return nil, err
	}
	if p.Name == nil {
		return nil, invalid("name: field required")
	}
	if p.Model == nil {
		return nil, invalid("model: field required")
	}
	now := s.now()
	c := &agentConfig{ExecutionIdentity: defaultExecutionIdentity(), Version: 1, UpdatedAt: now}
	if p.Metadata != nil {
		for k, v := range p.Metadata {
			if v == nil {
				return nil, invalid("metadata.%s: must be a string", k)
			}
		}
	}
	if err := p.apply(c); err != nil {
		return nil, err
	}
	if err := validateAgentConfig(c); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID(prefixAgent)
	var err error
	if c.Multiagent, err = s.normalizeMultiagent(c.Multiagent, map[string]any{"type": "agent", "id": id, "version": 1}); err != nil {
		return nil, err
	}
	a := &agent{record: record{id: id, seq: s.nextSeq()}, createdAt: now, versions: []*agentConfig{c}}
	s.agents.add(a)
	return a.wire(c), nil
}

func (s *Server) getAgent(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.agent(r.PathValue("agent_id"))
	if err != nil {
		return nil, err
	}
	c := a.latest()
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, invalid("version: must be a positive integer")
		}
		if n > int64(len(a.versions)) {
			return nil, notFound("Agent %s has no version %d", a.id, n)
		}
		c = a.versions[n-1]
	}
	return a.wire(c), nil
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) (any, error) {
	var p agentParams
	if err := decodeParams[anthropic.BetaAgentUpdateParams](w, r, &p); err != nil {
		return nil, err
	}
	if p.Version != nil && *p.Version < 1 {
		return nil, invalid("version: must be at least 1")
	}
	if p.Name != nil && isNull(p.Name) {
		return nil, invalid("name: cannot be cleared")
	}
	if p.Model != nil && isNull(p.Model) {
		return nil, invalid("model: cannot be cleared")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.agent(r.PathValue("agent_id"))
	if err != nil {
		return nil, err
	}
	if a.archivedAt != nil {
		return nil, conflict("Agent %s is archived and cannot be updated", a.id)
	}
	cur := a.latest()
	if p.Version != nil && *p.Version != cur.Version {
		return nil, conflict("Agent %s is at version %d, not %d", a.id, cur.Version, *p.Version)
	}
	next := *cur
	if err := p.apply(&next); err != nil {
		return nil, err
	}
	if p.Multiagent != nil {
		if next.Multiagent, err = s.normalizeMultiagent(next.Multiagent, map[string]any{"type": "agent", "id": a.id, "version": cur.Version + 1}); err != nil {
			return nil, err
		}
	}
	if err := validateAgentConfig(&next); err != nil {
		return nil, err
	}
	next.Version = cur.Version + 1
	next.UpdatedAt = s.now()
	a.versions = append(a.versions, &next)
	return a.wire(&next), nil
}

// createdIn is the filter of the agent list: the agents created in the
// request's created_at range.
func createdIn(r *http.Request) (func(*agent) bool, error) {
	created, err := parseTimeRange(r.URL.Query(), "created_at")
	if err != nil {
		return nil, err
	}
	return func(a *agent) bool { return created.contains(a.createdAt) }, nil
}

func (s *Server) listAgentVersions(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.agent(r.PathValue("agent_id"))
	if err != nil {
		return nil, err
	}
	list := slices.Clone(a.versions)
	slices.Reverse(list) // newest first
	page, err := paginate(list, func(c *agentConfig) int64 { return c.Version }, r.URL.Query(), true, false)
	if err != nil {
		return nil, err
	}
	return mapPage(page, a.wire), nil
}

// agent returns the stored agent; the caller holds s.mu.
func (s *Server) agent(id string) (*agent, error) { return s.agents.get(id) }

// mapPage converts the items of a page.
func mapPage[T, U any](p listPage[T], f func(T) U) listPage[U] {
	out := listPage[U]{Data: make([]U, 0, len(p.Data)), NextPage: p.NextPage, PrevPage: p.PrevPage}
	for _, v := range p.Data {
		out.Data = append(out.Data, f(v))
	}
	return out
}
