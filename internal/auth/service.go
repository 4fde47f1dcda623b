package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
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
	// Audit receives the record of every tenant and key change and of
	// every dashboard sign-in and sign-out; nil records nothing (tests).
	Audit Auditor
	// Actor is recorded as the actor of a change made without a
	// principal in the context: audit.ActorCLI for the command line,
	// audit.ActorSystem for the gateway (its bootstrap).
	Actor string
	// Agents, if set, checks that an agent key's agent configuration
	// exists in the key's tenant.
	Agents AgentLookup
}

// Auditor appends to the audit trail; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// AgentLookup finds an agent configuration of a tenant; *agent.Service
// implements it (through a small adapter in cmd). Another tenant's agent
// is not found.
type AgentLookup interface {
	AgentExists(ctx context.Context, tenantID, agentID string) error
}

// record appends the record of a control-plane action. It outlives a
// caller that goes away: the action is done. If it cannot be written the
// action stands and the error says so.
func (s *Service) record(ctx context.Context, tenantID string, ev audit.ControlPlaneEvent, subject any) error {
	if s.Audit == nil {
		return nil
	}
	actor := s.Actor
	if actor == "" {
		actor = audit.ActorSystem
	}
	rec, err := audit.ControlPlane(tenantID, ev, audit.ActorFrom(ctx, actor), subject)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.Audit.Append(actx, rec); err != nil {
		return vargate.Wrap(vargate.KindUnavailable, err, "%s done, but its audit record could not be written", ev)
	}
	return nil
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
	return t, s.record(ctx, t.ID, audit.EventTenantCreated, audit.TenantSubject{TenantID: t.ID, Name: t.Name})
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
	if req.AgentID != "" && s.Agents != nil {
		if err := s.Agents.AgentExists(ctx, req.TenantID, req.AgentID); err != nil {
			if vargate.IsKind(err, vargate.KindNotFound) {
				return APIKey{}, "", vargate.Invalid("agent_id", "no agent configuration %q in this tenant", req.AgentID)
			}
			return APIKey{}, "", err
		}
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
	err := s.record(ctx, k.TenantID, audit.EventKeyCreated, audit.KeySubject{KeyID: k.ID, Name: k.Name, Role: k.Role, AgentID: k.AgentID})
	return k, secret, err
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
	return vargate.Principal{TenantID: k.TenantID, Role: k.Role, KeyID: k.ID, KeyName: k.Name, AgentID: k.AgentID}, nil
}

// RevokeKey revokes a key of the tenant, and records it (once: revoking
// a revoked key changes nothing and records nothing), then cancels the
// actions it queued that still wait (Revocations). Revoking again retries
// the cancellation.
func (s *Service) RevokeKey(ctx context.Context, tenantID, keyID string) error {
	var subject audit.KeySubject
	ks, err := s.Store.ListKeys(ctx, tenantID)
	if err != nil {
		return err
	}
	already := false
	for _, k := range ks {
		if k.ID == keyID {
			subject = audit.KeySubject{KeyID: k.ID, Name: k.Name, Role: k.Role, AgentID: k.AgentID}
			already = k.RevokedAt != nil
		}
	}
	if err := s.Store.RevokeKey(ctx, tenantID, keyID, s.Now()); err != nil {
		return err
	}
	var recErr error
	if !already {
		recErr = s.record(ctx, tenantID, audit.EventKeyRevoked, subject)
	}
	if s.Revocations == nil {
		return recErr
	}
	if err := s.Revocations.KeyRevoked(context.WithoutCancel(ctx), tenantID, keyID, "key "+keyID+" was revoked"); err != nil {
		return errors.Join(recErr, fmt.Errorf("key revoked, but the actions it queued could not be cancelled (revoke again to retry): %w", err))
	}
	return recErr
}

// SignIn checks a key presented at the dashboard's sign-in: only an
// active key of a human role signs in. Success is recorded with the key
// as the actor; a refusal of a key the store knows (revoked, or an agent
// key) is recorded in that key's tenant, with client as the address. A
// key nobody issued names no tenant and is not recorded. Every refusal is
// the same KindUnauthorized error.
func (s *Service) SignIn(ctx context.Context, token, client string) (vargate.Principal, error) {
	denied := vargate.Errorf(vargate.KindUnauthorized, "this key cannot sign in")
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, KeyPrefix) || !looksLikeToken(token) {
		return vargate.Principal{}, denied
	}
	k, err := s.Store.KeyByHash(ctx, HashToken(token))
	if vargate.IsKind(err, vargate.KindNotFound) {
		return vargate.Principal{}, denied
	}
	if err != nil {
		return vargate.Principal{}, err
	}
	p := vargate.Principal{TenantID: k.TenantID, Role: k.Role, KeyID: k.ID, KeyName: k.Name, AgentID: k.AgentID}
	reason := ""
	switch {
	case k.RevokedAt != nil:
		reason = "revoked key"
	case !k.Role.Human() || k.AgentID != "":
		reason = "not a human role"
	}
	if reason != "" {
		actor := audit.Actor{ID: k.ID, Name: k.Name, Role: k.Role}
		if err := s.recordAs(ctx, k.TenantID, actor, audit.EventSignInFailed, audit.SignInSubject{KeyID: k.ID, Reason: reason, Client: client}); err != nil {
			return vargate.Principal{}, err
		}
		return vargate.Principal{}, denied
	}
	if err := s.recordAs(ctx, k.TenantID, audit.Actor{ID: k.ID, Name: k.Name, Role: k.Role}, audit.EventSignIn, audit.SignInSubject{KeyID: k.ID, Client: client}); err != nil {
		return vargate.Principal{}, err
	}
	return p, nil
}

// SignOut records that p ended its dashboard session.
func (s *Service) SignOut(ctx context.Context, p vargate.Principal) error {
	return s.recordAs(ctx, p.TenantID, audit.Actor{ID: p.KeyID, Name: p.KeyName, Role: p.Role}, audit.EventSignOut, nil)
}

// recordAs is record with an explicit actor.
func (s *Service) recordAs(ctx context.Context, tenantID string, actor audit.Actor, ev audit.ControlPlaneEvent, subject any) error {
	return s.record(vargate.NewContext(ctx, vargate.Principal{TenantID: tenantID, KeyID: actor.ID, KeyName: actor.Name, Role: actor.Role}), tenantID, ev, subject)
}
