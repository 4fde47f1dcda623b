package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

// Prefixes of the credentials Vargate issues. They let secret scanners and
// operators recognise a leaked Vargate credential.
const (
	KeyPrefix          = "vgk_"
	SessionTokenPrefix = "vgs_"
)

// Tenant is an isolated customer of the gateway.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is the stored, non-secret part of an API key.
type APIKey struct {
	ID         string       `json:"id"`
	TenantID   string       `json:"tenant_id"`
	Role       vargate.Role `json:"role"`
	AgentID    string       `json:"agent_id,omitempty"`
	Name       string       `json:"name,omitempty"`
	Prefix     string       `json:"prefix"` // the first characters, for recognition
	Hash       []byte       `json:"-"`
	CreatedAt  time.Time    `json:"created_at"`
	RevokedAt  *time.Time   `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time   `json:"last_used_at,omitempty"`
}

// Store persists tenants and keys.
type Store interface {
	CreateTenant(ctx context.Context, t Tenant) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// GetTenantByName finds a tenant by its unique name.
	GetTenantByName(ctx context.Context, name string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	CreateKey(ctx context.Context, k APIKey) error
	// KeyByHash returns the key with the given hash, revoked or not.
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	ListKeys(ctx context.Context, tenantID string) ([]APIKey, error)
	// RevokeKey marks the key revoked; revoking twice is not an error.
	RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error
}

// SessionTokens resolves per-session MCP tokens. The session capability
// implements it; a token is valid only while its session is live.
type SessionTokens interface {
	AuthenticateSessionToken(ctx context.Context, hash []byte) (vargate.Principal, error)
}

// HashToken returns the stored form of a credential. The credentials are
// 256-bit random values, so a plain SHA-256 is a sufficient one-way form.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewToken returns a fresh random credential with the given prefix.
func NewToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// ValidTenantName reports whether name is acceptable for a tenant: 1–64
// characters of letters, digits, '-', '_' and '.'.
func ValidTenantName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// looksLikeToken reports whether s has the shape of one of our credentials.
func looksLikeToken(s string) bool {
	return (strings.HasPrefix(s, KeyPrefix) || strings.HasPrefix(s, SessionTokenPrefix)) && len(s) > 20 && len(s) < 200
}
