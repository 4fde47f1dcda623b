package web

import (
	"context"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/vault"
	"github.com/vargate/vargate/internal/webhook"
)

// The interfaces below list what the dashboard needs from each capability.
// The capability services implement them as they are (a few through the
// adapters at the end); cmd wires them in.

// Keys signs people in and manages the tenant's API keys; *auth.Service
// implements it.
type Keys interface {
	Authenticate(ctx context.Context, token string) (vargate.Principal, error)
	// SignIn checks (and records) a dashboard sign-in; SignOut records
	// its end.
	SignIn(ctx context.Context, token, client string) (vargate.Principal, error)
	SignOut(ctx context.Context, p vargate.Principal) error
	CreateKey(ctx context.Context, req auth.KeyRequest) (auth.APIKey, string, error)
	RevokeKey(ctx context.Context, tenantID, keyID string) error
}

// KeyStore reads keys and tenants; auth.Store implements it. KeyByHash
// re-checks a signed-in key on every request.
type KeyStore interface {
	GetTenant(ctx context.Context, id string) (auth.Tenant, error)
	KeyByHash(ctx context.Context, hash []byte) (auth.APIKey, error)
	ListKeys(ctx context.Context, tenantID string) ([]auth.APIKey, error)
}

// Approvals is the approval queue; *approval.Service implements it.
type Approvals interface {
	List(ctx context.Context, tenantID string, f approval.Filter) ([]approval.Action, error)
	Get(ctx context.Context, tenantID, id string) (approval.Action, error)
	Counts(ctx context.Context, tenantID string) (map[approval.Status]int, error)
	Approve(ctx context.Context, p vargate.Principal, id, note string) (approval.Action, error)
	Reject(ctx context.Context, p vargate.Principal, id, reason string) (approval.Action, error)
}

// Sessions lists governed sessions and their audit trail;
// *session.Service implements it.
type Sessions interface {
	List(ctx context.Context, tenantID string, f session.Filter) ([]session.Session, error)
	Status(ctx context.Context, tenantID, id string) (session.Session, session.Counters, error)
	AuditTrail(ctx context.Context, tenantID, id string, afterSeq int64, limit int) ([]audit.Record, error)
}

// Interrupter stops a running session on behalf of p. The event consumer
// (internal/observe) implements it through InterruptFunc; without one, the
// session service's own Interrupt does.
type Interrupter interface {
	Interrupt(ctx context.Context, p vargate.Principal, sessionID, reason string) error
}

// InterruptFunc adapts a function to Interrupter.
type InterruptFunc func(ctx context.Context, p vargate.Principal, sessionID, reason string) error

// Interrupt calls f.
func (f InterruptFunc) Interrupt(ctx context.Context, p vargate.Principal, sessionID, reason string) error {
	return f(ctx, p, sessionID, reason)
}

// AuditLog is the tenant's audit trail; *audit.Log implements it.
type AuditLog interface {
	Verify(ctx context.Context, tenantID string, trusted ...string) (audit.VerifyResult, error)
	LatestCheckpoint(ctx context.Context, tenantID string) (audit.Checkpoint, error)
	PublicKey() string
}

// AuditRecords searches the trail; audit.Store (the Log's Store)
// implements it.
type AuditRecords interface {
	List(ctx context.Context, tenantID string, f audit.Filter) ([]audit.Record, error)
}

// Agents manages agent configurations; *agent.Service implements it.
type Agents interface {
	List(ctx context.Context, tenantID string, f agent.Filter) ([]agent.Config, error)
	Get(ctx context.Context, tenantID, id string) (agent.Config, error)
	Create(ctx context.Context, tenantID, actor string, p agent.Params) (agent.Config, error)
	Update(ctx context.Context, tenantID, id, actor string, p agent.Params) (agent.Config, error)
	Archive(ctx context.Context, tenantID, id, actor string) (agent.Config, error)
}

// Credentials is the credential vault; *vault.Vault implements it. No
// method returns a value.
type Credentials interface {
	Register(ctx context.Context, tenantID string, r vault.Registration) (vault.Metadata, error)
	List(ctx context.Context, tenantID string, f vault.Filter) ([]vault.Metadata, error)
	Delete(ctx context.Context, tenantID, id string) (vault.Metadata, error)
}

// Webhooks is the tenant's webhook endpoint and delivery log;
// *webhook.Service implements it.
type Webhooks interface {
	Settings(ctx context.Context, tenantID string) (webhook.Settings, error)
	UpdateSettings(ctx context.Context, tenantID, actor string, u webhook.Update) (webhook.Settings, string, error)
	Deliveries(ctx context.Context, tenantID string, f webhook.MessageFilter) ([]webhook.Message, error)
	Test(ctx context.Context, tenantID string) (webhook.Message, error)
}
