package sim

import (
	"github.com/anthropics/anthropic-sdk-go/v2"

	"cmp"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"
)

// Credential auth types.
const (
	authStaticBearer = "static_bearer"
	authMCPOAuth     = "mcp_oauth"
	authEnvVar       = "environment_variable"
)

// vault is a stored vault.
type vault struct {
	record
	displayName string
	metadata    map[string]string
	createdAt   time.Time
	updatedAt   time.Time
}

type vaultWire struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	DisplayName string            `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// touch records t as the vault's last update.
func (v *vault) touch(t time.Time) { v.updatedAt = t }

func (v *vault) wire() vaultWire {
	return vaultWire{
		ID: v.id, Type: "vault", DisplayName: v.displayName, Metadata: nonNil(v.metadata),
		CreatedAt: v.createdAt, UpdatedAt: v.updatedAt, ArchivedAt: v.archivedAt,
	}
}

// credAuth is a credential's auth block. The secret fields are write-only:
// MarshalJSON leaves them out, and LogValue redacts them.
type credAuth struct {
	Type         string
	MCPServerURL string
	// Token is the static_bearer token or the mcp_oauth access token.
	Token     string
	ExpiresAt *time.Time
	Refresh   *oauthRefresh
	// environment_variable
	SecretName        string
	SecretValue       string
	Networking        json.RawMessage
	InjectionLocation *injectionLocation
}

type oauthRefresh struct {
	ClientID          string `json:"client_id"`
	RefreshToken      string `json:"refresh_token"`
	TokenEndpoint     string `json:"token_endpoint"`
	TokenEndpointAuth struct {
		Type         string `json:"type"`
		ClientSecret string `json:"client_secret"`
	} `json:"token_endpoint_auth"`
	Resource *string `json:"resource"`
	Scope    *string `json:"scope"`
}

type injectionLocation struct {
	Body   bool `json:"body"`
	Header bool `json:"header"`
}

// LogValue keeps secrets out of logs.
func (a credAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", a.Type), slog.String("mcp_server_url", a.MCPServerURL), slog.String("secret", "[redacted]"))
}

// MarshalJSON writes the auth block without its secrets.
func (a credAuth) MarshalJSON() ([]byte, error) {
	switch a.Type {
	case authStaticBearer:
		return json.Marshal(map[string]any{"type": a.Type, "mcp_server_url": a.MCPServerURL})
	case authMCPOAuth:
		var refresh any
		if r := a.Refresh; r != nil {
			refresh = map[string]any{
				"client_id": r.ClientID, "token_endpoint": r.TokenEndpoint,
				"token_endpoint_auth": map[string]string{"type": r.TokenEndpointAuth.Type},
				"resource":            r.Resource, "scope": r.Scope,
			}
		}
		return json.Marshal(map[string]any{"type": a.Type, "mcp_server_url": a.MCPServerURL, "expires_at": a.ExpiresAt, "refresh": refresh})
	default:
		loc := injectionLocation{Header: true}
		if a.InjectionLocation != nil {
			loc = *a.InjectionLocation
		}
		return json.Marshal(map[string]any{"type": a.Type, "secret_name": a.SecretName, "networking": nullIfEmpty(a.Networking), "injection_location": loc})
	}
}

// authParam is the request form of a credential's auth block.
type authParam struct {
	Type              string             `json:"type"`
	MCPServerURL      *string            `json:"mcp_server_url"`
	Token             *string            `json:"token"`
	AccessToken       *string            `json:"access_token"`
	ExpiresAt         *time.Time         `json:"expires_at"`
	Refresh           *oauthRefresh      `json:"refresh"`
	SecretName        *string            `json:"secret_name"`
	SecretValue       *string            `json:"secret_value"`
	Networking        json.RawMessage    `json:"networking"`
	InjectionLocation *injectionLocation `json:"injection_location"`
}

// newAuth validates the auth block of a credential create.
func newAuth(p *authParam) (credAuth, error) {
	if p == nil {
		return credAuth{}, invalid("auth: field required")
	}
	a := credAuth{Type: p.Type}
	switch p.Type {
	case authStaticBearer, authMCPOAuth:
		if p.MCPServerURL == nil || *p.MCPServerURL == "" {
			return a, invalid("auth.mcp_server_url: field required")
		}
		a.MCPServerURL = *p.MCPServerURL
		tok := p.Token
		if p.Type == authMCPOAuth {
			tok = p.AccessToken
			a.ExpiresAt, a.Refresh = p.ExpiresAt, p.Refresh
		}
		if tok == nil || *tok == "" {
			if p.Type == authMCPOAuth {
				return a, invalid("auth.access_token: field required")
			}
			return a, invalid("auth.token: field required")
		}
		a.Token = *tok
	case authEnvVar:
		if p.SecretName == nil || *p.SecretName == "" || p.SecretValue == nil || p.Networking == nil {
			return a, invalid("auth: environment_variable credentials need secret_name, secret_value and networking")
		}
		a.SecretName, a.SecretValue, a.Networking, a.InjectionLocation = *p.SecretName, *p.SecretValue, p.Networking, p.InjectionLocation
	case "":
		return a, invalid("auth.type: field required")
	default:
		return a, invalid("auth.type: unknown credential type %q", p.Type)
	}
	return a, nil
}

// update applies the auth block of a credential update; the type cannot
// change and mcp_server_url is immutable.
func (a credAuth) update(p *authParam) (credAuth, error) {
	if p.Type != a.Type {
		return a, invalid("auth.type: cannot change a %s credential to %q", a.Type, p.Type)
	}
	if p.MCPServerURL != nil && *p.MCPServerURL != a.MCPServerURL {
		return a, invalid("auth.mcp_server_url: cannot be changed")
	}
	switch {
	case p.Token != nil && a.Type == authStaticBearer:
		a.Token = *p.Token
	case p.AccessToken != nil && a.Type == authMCPOAuth:
		a.Token = *p.AccessToken
	}
	if p.ExpiresAt != nil {
		a.ExpiresAt = p.ExpiresAt
	}
	if p.SecretValue != nil {
		a.SecretValue = *p.SecretValue
	}
	if p.Networking != nil {
		a.Networking = p.Networking
	}
	if p.InjectionLocation != nil {
		a.InjectionLocation = p.InjectionLocation
	}
	return a, nil
}

// credential is a stored vault credential.
type credential struct {
	record
	vaultID     string
	displayName *string
	metadata    map[string]string
	auth        credAuth
	createdAt   time.Time
	updatedAt   time.Time
}

type credentialWire struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	VaultID     string            `json:"vault_id"`
	DisplayName *string           `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
	Auth        credAuth          `json:"auth"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// touch records t as the credential's last update.
func (c *credential) touch(t time.Time) { c.updatedAt = t }

func (c *credential) wire() credentialWire {
	return credentialWire{
		ID: c.id, Type: "vault_credential", VaultID: c.vaultID, DisplayName: c.displayName, Metadata: nonNil(c.metadata),
		Auth: c.auth, CreatedAt: c.createdAt, UpdatedAt: c.updatedAt, ArchivedAt: c.archivedAt,
	}
}

type vaultParams struct {
	DisplayName json.RawMessage    `json:"display_name"`
	Metadata    map[string]*string `json:"metadata"`
}

func (s *Server) createVault(w http.ResponseWriter, r *http.Request) (any, error) {
	var p vaultParams
	if err := decodeParams[anthropic.BetaVaultNewParams](w, r, &p); err != nil {
		return nil, err
	}
	name, _, err := optionalString("display_name", p.DisplayName)
	if err != nil {
		return nil, err
	}
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return nil, invalid("display_name: must be 1 to %d characters", maxNameLen)
	}
	meta, err := patchMetadata(nil, p.Metadata, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	v := &vault{record: s.newRecord(prefixVault), displayName: name, metadata: meta, createdAt: now, updatedAt: now}
	s.vaults.add(v)
	return v.wire(), nil
}

func (s *Server) updateVault(w http.ResponseWriter, r *http.Request) (any, error) {
	var p vaultParams
	if err := decodeParams[anthropic.BetaVaultUpdateParams](w, r, &p); err != nil {
		return nil, err
	}
	name, nameSet, err := optionalString("display_name", p.DisplayName)
	if err != nil {
		return nil, err
	}
	if nameSet && (name == "" || utf8.RuneCountInString(name) > maxNameLen) {
		return nil, invalid("display_name: must be 1 to %d characters", maxNameLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.vault(r.PathValue("vault_id"))
	if err != nil {
		return nil, err
	}
	if v.archivedAt != nil {
		return nil, conflict("Vault %s is archived and cannot be updated", v.id)
	}
	meta, err := patchMetadata(v.metadata, p.Metadata, false)
	if err != nil {
		return nil, err
	}
	if nameSet {
		v.displayName = name
	}
	v.metadata, v.updatedAt = meta, s.now()
	return v.wire(), nil
}

// vault returns the stored vault; the caller holds s.mu.
func (s *Server) vault(id string) (*vault, error) { return s.vaults.get(id) }

// removeVault deletes a vault and its credentials; the caller holds s.mu.
func (s *Server) removeVault(v *vault) {
	s.vaults.remove(v)
	for _, c := range s.credentials.items {
		if c.vaultID == v.id {
			s.credentials.remove(c)
		}
	}
}

type credentialParams struct {
	DisplayName json.RawMessage    `json:"display_name"`
	Metadata    map[string]*string `json:"metadata"`
	Auth        *authParam         `json:"auth"`
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request) (any, error) {
	var p credentialParams
	if err := decodeParams[anthropic.BetaVaultCredentialNewParams](w, r, &p); err != nil {
		return nil, err
	}
	auth, err := newAuth(p.Auth)
	if err != nil {
		return nil, err
	}
	name, nameSet, err := optionalString("display_name", p.DisplayName)
	if err != nil {
		return nil, err
	}
	meta, err := patchMetadata(nil, p.Metadata, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.vault(r.PathValue("vault_id"))
	if err != nil {
		return nil, err
	}
	if v.archivedAt != nil {
		return nil, conflict("Vault %s is archived", v.id)
	}
	now := s.now()
	c := &credential{record: s.newRecord(prefixCredential), vaultID: v.id, metadata: meta, auth: auth, createdAt: now, updatedAt: now}
	if nameSet && name != "" {
		c.displayName = &name
	}
	s.credentials.add(c)
	return c.wire(), nil
}

func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request) (any, error) {
	var p credentialParams
	if err := decodeParams[anthropic.BetaVaultCredentialUpdateParams](w, r, &p); err != nil {
		return nil, err
	}
	name, nameSet, err := optionalString("display_name", p.DisplayName)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.credential(r.PathValue("vault_id"), r.PathValue("credential_id"))
	if err != nil {
		return nil, err
	}
	if c.archivedAt != nil {
		return nil, conflict("Credential %s is archived and cannot be updated", c.id)
	}
	auth := c.auth
	if p.Auth != nil {
		if auth, err = c.auth.update(p.Auth); err != nil {
			return nil, err
		}
	}
	meta, err := patchMetadata(c.metadata, p.Metadata, false)
	if err != nil {
		return nil, err
	}
	if nameSet {
		c.displayName = nil
		if name != "" {
			c.displayName = &name
		}
	}
	c.auth, c.metadata, c.updatedAt = auth, meta, s.now()
	return c.wire(), nil
}

// credential returns the stored credential of a vault; the caller holds s.mu.
func (s *Server) credential(vaultID, id string) (*credential, error) {
	if _, err := s.vault(vaultID); err != nil {
		return nil, err
	}
	c, ok := s.credentials.items[id]
	if !ok || c.vaultID != vaultID {
		return nil, notFound("Credential %s not found in vault %s", id, vaultID)
	}
	return c, nil
}

// credentialAt finds the credential a request's path names (vault_id,
// credential_id); the caller holds s.mu.
func (s *Server) credentialAt(r *http.Request) (*credential, error) {
	return s.credential(r.PathValue("vault_id"), r.PathValue("credential_id"))
}

// inPathVault is the filter of the credential list: the credentials of
// the vault the request's path names, which must exist.
func (s *Server) inPathVault(r *http.Request) (func(*credential) bool, error) {
	v, err := s.vault(r.PathValue("vault_id"))
	if err != nil {
		return nil, err
	}
	return func(c *credential) bool { return c.vaultID == v.id }, nil
}

// vaultCredentials returns a vault's credentials, oldest first; the caller
// holds s.mu.
func (s *Server) vaultCredentials(vaultID string, includeArchived bool) []*credential {
	var list []*credential
	for _, c := range s.credentials.items {
		if c.vaultID == vaultID && (includeArchived || c.archivedAt == nil) {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *credential) int { return cmp.Compare(a.seq, b.seq) })
	return list
}

// mcpToken returns the bearer token the session would present to the MCP
// server at url: the first active static_bearer (or mcp_oauth) credential,
// in the order of the session's vault_ids, whose mcp_server_url is exactly
// url. With no match there is no token, as with the real service. The
// caller holds s.mu.
func (s *Server) mcpToken(vaultIDs []string, url string) (token, credentialID string) {
	for _, vid := range vaultIDs {
		v, ok := s.vaults.items[vid]
		if !ok || v.archivedAt != nil {
			continue
		}
		for _, c := range s.vaultCredentials(vid, false) {
			if (c.auth.Type == authStaticBearer || c.auth.Type == authMCPOAuth) && c.auth.MCPServerURL == url {
				return c.auth.Token, c.id
			}
		}
	}
	return "", ""
}
