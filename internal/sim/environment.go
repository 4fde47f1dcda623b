package sim

import (
	"github.com/anthropics/anthropic-sdk-go/v2"

	"cmp"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Environment config and networking types.
const (
	envCloud        = "cloud"
	envSelfHosted   = "self_hosted"
	netUnrestricted = "unrestricted"
	netLimited      = "limited"
)

// networking is a cloud environment's egress policy.
type networking struct {
	Type                 string   `json:"type"`
	AllowedHosts         []string `json:"allowed_hosts,omitempty"`
	AllowMCPServers      *bool    `json:"allow_mcp_servers,omitempty"`
	AllowPackageManagers *bool    `json:"allow_package_managers,omitempty"`
}

// packages lists the packages installed in a cloud environment.
type packages struct {
	Type  string   `json:"type,omitempty"`
	Apt   []string `json:"apt"`
	Cargo []string `json:"cargo"`
	Gem   []string `json:"gem"`
	Go    []string `json:"go"`
	Npm   []string `json:"npm"`
	Pip   []string `json:"pip"`
}

func (p packages) empty() bool {
	return len(p.Apt)+len(p.Cargo)+len(p.Gem)+len(p.Go)+len(p.Npm)+len(p.Pip) == 0
}

// envConfig is an environment's resolved config.
type envConfig struct {
	Type       string
	Networking networking
	Packages   packages
}

// MarshalJSON writes the resolved wire form: cloud configs always carry
// networking and packages.
func (c envConfig) MarshalJSON() ([]byte, error) {
	if c.Type == envSelfHosted {
		return json.Marshal(map[string]string{"type": envSelfHosted})
	}
	var net any = map[string]string{"type": netUnrestricted}
	if c.Networking.Type == netLimited {
		net = map[string]any{
			"type":                   netLimited,
			"allowed_hosts":          nonNilSlice(c.Networking.AllowedHosts),
			"allow_mcp_servers":      c.Networking.AllowMCPServers != nil && *c.Networking.AllowMCPServers,
			"allow_package_managers": c.Networking.AllowPackageManagers != nil && *c.Networking.AllowPackageManagers,
		}
	}
	p := c.Packages
	p.Type = "packages"
	p.Apt, p.Cargo, p.Gem, p.Go, p.Npm, p.Pip = nonNilSlice(p.Apt), nonNilSlice(p.Cargo), nonNilSlice(p.Gem), nonNilSlice(p.Go), nonNilSlice(p.Npm), nonNilSlice(p.Pip)
	return json.Marshal(map[string]any{"type": envCloud, "networking": net, "packages": p})
}

// envConfigParam is the request form of an environment config.
type envConfigParam struct {
	Type       string      `json:"type"`
	Networking *networking `json:"networking"`
	Packages   *packages   `json:"packages"`
}

func parseEnvConfig(raw json.RawMessage) (envConfig, error) {
	c := envConfig{Type: envCloud, Networking: networking{Type: netUnrestricted}}
	if raw == nil || isNull(raw) {
		return c, nil
	}
	var p envConfigParam
	if err := json.Unmarshal(raw, &p); err != nil {
		return c, invalid("config: %v", err)
	}
	switch p.Type {
	case envSelfHosted:
		return envConfig{Type: envSelfHosted}, nil
	case envCloud:
	default:
		return c, invalid("config.type: must be %q or %q", envCloud, envSelfHosted)
	}
	if p.Networking != nil {
		n := *p.Networking
		switch n.Type {
		case netUnrestricted:
			n = networking{Type: netUnrestricted}
		case netLimited:
			for i, h := range n.AllowedHosts {
				if h == "" || strings.ContainsAny(h, ":/?# ") {
					return c, invalid("config.networking.allowed_hosts[%d]: must be a bare hostname or wildcard (no scheme, port or path)", i)
				}
			}
		default:
			return c, invalid("config.networking.type: must be %q or %q", netUnrestricted, netLimited)
		}
		c.Networking = n
	}
	if p.Packages != nil {
		c.Packages = *p.Packages
		c.Packages.Type = ""
	}
	if c.Networking.Type == netLimited && !c.Packages.empty() &&
		(c.Networking.AllowPackageManagers == nil || !*c.Networking.AllowPackageManagers) {
		return c, invalid("config.networking.allow_package_managers: must be true when packages are set under limited networking")
	}
	return c, nil
}

// environment is a stored environment.
type environment struct {
	record
	name        string
	description string
	config      envConfig
	metadata    map[string]string
	scope       string
	createdAt   time.Time
	updatedAt   time.Time
}

type environmentWire struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      envConfig         `json:"config"`
	Metadata    map[string]string `json:"metadata"`
	Scope       string            `json:"scope"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// touch records t as the environment's last update.
func (e *environment) touch(t time.Time) { e.updatedAt = t }

func (e *environment) wire() environmentWire {
	return environmentWire{
		ID: e.id, Type: "environment", Name: e.name, Description: e.description, Config: e.config,
		Metadata: nonNil(e.metadata), Scope: e.scope, CreatedAt: e.createdAt, UpdatedAt: e.updatedAt, ArchivedAt: e.archivedAt,
	}
}

type environmentParams struct {
	Name        json.RawMessage    `json:"name"`
	Description json.RawMessage    `json:"description"`
	Config      json.RawMessage    `json:"config"`
	Scope       string             `json:"scope"`
	Metadata    map[string]*string `json:"metadata"`
}

func validScope(s string) bool { return s == "organization" || s == "account" }

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) (any, error) {
	var p environmentParams
	if err := decodeParams[anthropic.BetaEnvironmentNewParams](w, r, &p); err != nil {
		return nil, err
	}
	name, _, err := optionalString("name", p.Name)
	if err != nil {
		return nil, err
	}
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return nil, invalid("name: must be 1 to %d characters", maxNameLen)
	}
	desc, _, err := optionalString("description", p.Description)
	if err != nil {
		return nil, err
	}
	cfg, err := parseEnvConfig(p.Config)
	if err != nil {
		return nil, err
	}
	scope := cmp.Or(p.Scope, "organization")
	if !validScope(scope) {
		return nil, invalid("scope: must be organization or account")
	}
	meta, err := patchMetadata(nil, p.Metadata, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkEnvironmentName(name, ""); err != nil {
		return nil, err
	}
	now := s.now()
	e := &environment{
		record: s.newRecord(prefixEnvironment), name: name, description: desc, config: cfg,
		metadata: meta, scope: scope, createdAt: now, updatedAt: now,
	}
	s.environments.add(e)
	return e.wire(), nil
}

// checkEnvironmentName rejects a name another environment already uses.
func (s *Server) checkEnvironmentName(name, self string) error {
	for _, e := range s.environments.items {
		if e.name == name && e.id != self {
			return conflict("An environment named %q already exists", name)
		}
	}
	return nil
}

func (s *Server) updateEnvironment(w http.ResponseWriter, r *http.Request) (any, error) {
	var p environmentParams
	if err := decodeParams[anthropic.BetaEnvironmentUpdateParams](w, r, &p); err != nil {
		return nil, err
	}
	name, nameSet, err := optionalString("name", p.Name)
	if err != nil {
		return nil, err
	}
	if nameSet && (name == "" || utf8.RuneCountInString(name) > maxNameLen) {
		return nil, invalid("name: must be 1 to %d characters", maxNameLen)
	}
	desc, descSet, err := optionalString("description", p.Description)
	if err != nil {
		return nil, err
	}
	if p.Scope != "" && !validScope(p.Scope) {
		return nil, invalid("scope: must be organization or account")
	}
	var cfg envConfig
	if p.Config != nil {
		if cfg, err = parseEnvConfig(p.Config); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.environment(r.PathValue("environment_id"))
	if err != nil {
		return nil, err
	}
	if e.archivedAt != nil {
		return nil, conflict("Environment %s is archived and cannot be updated", e.id)
	}
	meta, err := patchMetadata(e.metadata, p.Metadata, true)
	if err != nil {
		return nil, err
	}
	if nameSet {
		if err := s.checkEnvironmentName(name, e.id); err != nil {
			return nil, err
		}
		e.name = name
	}
	if descSet {
		e.description = desc
	}
	if p.Config != nil {
		e.config = cfg
	}
	if p.Scope != "" {
		e.scope = p.Scope
	}
	e.metadata = meta
	e.updatedAt = s.now()
	return e.wire(), nil
}

// environment returns the stored environment; the caller holds s.mu.
func (s *Server) environment(id string) (*environment, error) { return s.environments.get(id) }
