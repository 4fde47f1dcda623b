package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

// Revocations settles what a revoked key left waiting (the approval
// queue's actions). cmd adapts the approval queue.
type Revocations interface {
	KeyRevoked(ctx context.Context, tenantID, keyID, reason string) error
}

// Service issues and checks credentials.
type Service struct {
	Store Store
	// Sessions resolves per-session tokens; nil means none are accepted.
	Sessions SessionTokens
	// Revocations is told of each revoked key, so that the actions it
	// queued and that still wait are cancelled; nil tells nobody.
	Revocations Revocations
	Now         vargate.Clock
}

// NewService returns a Service over store.
func NewService(store Store) *Service {
	return &Service{Store: store, Now: func() time.Time { return time.Now().UTC() }}
}

// CreateTenant creates a tenant with a unique name.
func (s *Service) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	if !ValidTenantName(name) {
		return Tenant{}, vargate.Invalid("name", "tenant name must be 1-64 letters, digits, '-', '_' or '.'")
	}
	t := Tenant{ID: vargate.NewID("tenant-", 8), Name: name, CreatedAt: s.Now()}
	if err := s.Store.CreateTenant(ctx, t); err != nil {
		if vargate.IsKind(err, vargate.KindConflict) {
			return Tenant{}, vargate.Errorf(vargate.KindConflict, "a tenant named %q already exists", name)
		}
		return Tenant{}, err
	}
	return t, nil
}

// KeyRequest describes a key to create.
type KeyRequest struct {
	TenantID string
	Role     vargate.Role
	// AgentID binds an agent key to one agent configuration; required for
	// the agent role and refused for the others.
	AgentID string
	Name    string
}

// CreateKey issues a new key and returns it with its secret, which is not
// stored and cannot be shown again.
func (s *Service) CreateKey(ctx context.Context, req KeyRequest) (APIKey, string, error) {
	if !req.Role.Valid() {
		return APIKey{}, "", vargate.Invalid("role", "role must be one of admin, approver, auditor, agent")
	}
	if req.Role == vargate.RoleAgent && req.AgentID == "" {
		return APIKey{}, "", vargate.Invalid("agent_id", "an agent key must be bound to an agent configuration")
	}
	if req.Role != vargate.RoleAgent && req.AgentID != "" {
		return APIKey{}, "", vargate.Invalid("agent_id", "only agent keys are bound to an agent configuration")
	}
	if len(req.Name) > 128 {
		return APIKey{}, "", vargate.Invalid("name", "at most 128 characters")
	}
	if _, err := s.Store.GetTenant(ctx, req.TenantID); err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return APIKey{}, "", vargate.Invalid("tenant", "tenant %q does not exist", req.TenantID)
		}
		return APIKey{}, "", err
	}
	secret := NewToken(KeyPrefix)
	k := APIKey{
		ID:        vargate.NewID("key-", 8),
		TenantID:  req.TenantID,
		Role:      req.Role,
		AgentID:   req.AgentID,
		Name:      req.Name,
		Prefix:    secret[:len(KeyPrefix)+6],
		Hash:      HashToken(secret),
		CreatedAt: s.Now(),
	}
	if err := s.Store.CreateKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

// Authenticate resolves a presented credential to a principal. Every
// failure is KindUnauthorized with the same message, so a caller learns
// nothing about which keys exist.
func (s *Service) Authenticate(ctx context.Context, token string) (vargate.Principal, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return vargate.Principal{}, vargate.Errorf(vargate.KindUnauthorized, "missing API key: send X-API-Key or Authorization: Bearer")
	}
	denied := vargate.Errorf(vargate.KindUnauthorized, "invalid or revoked credential")
	if !looksLikeToken(token) {
		return vargate.Principal{}, denied
	}
	hash := HashToken(token)
	if strings.HasPrefix(token, SessionTokenPrefix) {
		if s.Sessions == nil {
			return vargate.Principal{}, denied
		}
		p, err := s.Sessions.AuthenticateSessionToken(ctx, hash)
		if err != nil {
			if vargate.IsKind(err, vargate.KindNotFound) || vargate.IsKind(err, vargate.KindUnauthorized) {
				return vargate.Principal{}, denied
			}
			return vargate.Principal{}, err
		}
		return p, nil
	}
	k, err := s.Store.KeyByHash(ctx, hash)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return vargate.Principal{}, denied
		}
		return vargate.Principal{}, err
	}
	if k.RevokedAt != nil {
		return vargate.Principal{}, denied
	}
	return vargate.Principal{TenantID: k.TenantID, Role: k.Role, KeyID: k.ID, AgentID: k.AgentID}, nil
}

// RevokeKey revokes a key of the tenant, then cancels the actions it
// queued that still wait (Revocations). Revoking again retries the
// cancellation.
func (s *Service) RevokeKey(ctx context.Context, tenantID, keyID string) error {
	if err := s.Store.RevokeKey(ctx, tenantID, keyID, s.Now()); err != nil {
		return err
	}
	if s.Revocations == nil {
		return nil
	}
	if err := s.Revocations.KeyRevoked(context.WithoutCancel(ctx), tenantID, keyID, "key "+keyID+" was revoked"); err != nil {
		return fmt.Errorf("key revoked, but the actions it queued could not be cancelled (revoke again to retry): %w", err)
	}
	return nil
}
