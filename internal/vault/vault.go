package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vargate/vargate"
)

// Log attribute keys.
const (
	logKeyTenant     = "tenant_id"
	logKeyCredential = "credential_id"
	logKeyTool       = "tool_id"
	logKeyName       = "credential_name"
	logKeyVersion    = "version"
	logKeyKEK        = "kek_id"
	logKeyDataKey    = "data_key_id"
	logKeyPath       = "path"
	logKeyError      = "error"
	logKeyAction     = "action_id"
	logKeySession    = "session_id"
	logKeyHost       = "host"
)

// Op is what happened to a credential, for the audit record.
type Op string

// The audited operations.
const (
	OpUse      Op = "use"      // a value was released to a connector
	OpRegister Op = "register" // a version was registered (rotating any previous one)
	OpDelete   Op = "delete"   // key material was destroyed
)

// Purpose says why a credential is being used. ActionID or SessionID is
// required so that every release can be traced to what caused it.
type Purpose struct {
	// ActionID is the governed action (tool call) the value is for.
	ActionID string
	// SessionID is the managed-agent session, if any.
	SessionID string
	// Actor is who triggered the use: the agent ID or key ID of the
	// principal, or "system" for the gateway's own calls. When empty, the
	// key ID of the principal in the context is recorded.
	Actor string
	// Host is the host an HTTP request carrying the value goes to; empty
	// for a built-in connector (which names the credential by its own
	// tool ID). Use refuses a host the credential is not bound to
	// (BindingOf).
	Host string
	// Connector names a connector that uses the value itself rather than
	// sending it to a host: "vargate_upstream_NAME" for the stdio MCP
	// upstream NAME.
	// A credential bound to another connector is refused.
	Connector string
}

// Access is the audit record of one vault operation. It never contains a
// value: only which credential, which version, and why.
type Access struct {
	Op           Op
	TenantID     string
	CredentialID string
	ToolID       string
	Name         string
	Type         Type
	Version      int
	Source       Source
	Fingerprint  string
	ActionID     string
	SessionID    string
	Actor        string
	At           time.Time
}

// Auditor writes vault operations to the audit log. cmd adapts
// internal/audit to it.
type Auditor interface {
	RecordCredentialAccess(ctx context.Context, a Access) error
}

// LastUsedResolution is how stale a credential's last_used_at may be: Use
// rewrites it only when the stored time is at least this old.
const LastUsedResolution = time.Minute

// Defaults for Vault's zero fields.
const (
	DefaultCacheSize = 1024
	DefaultCacheTTL  = 15 * time.Minute
)

// Vault registers, lists, deletes and releases credentials. Set the
// exported fields (New fills the defaults), then use it from any goroutine.
type Vault struct {
	Store   Store
	Keys    KeyProvider
	Auditor Auditor
	Logger  *slog.Logger
	Now     vargate.Clock
	// MaxValueSize bounds a registered value (DefaultMaxValueSize if 0).
	MaxValueSize int
	// CacheSize bounds the unwrapped data keys kept in memory
	// (DefaultCacheSize if 0); CacheTTL is how long one is kept
	// (DefaultCacheTTL if 0).
	CacheSize int
	CacheTTL  time.Duration

	cacheOnce sync.Once
	cache     *dekCache
}

// New returns a Vault with defaults filled in. auditor must not be nil:
// the vault refuses to release a value it cannot audit.
func New(store Store, keys KeyProvider, auditor Auditor, logger *slog.Logger) *Vault {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Vault{
		Store: store, Keys: keys, Auditor: auditor, Logger: logger,
		Now:          func() time.Time { return time.Now().UTC() },
		MaxValueSize: DefaultMaxValueSize,
		CacheSize:    DefaultCacheSize,
		CacheTTL:     DefaultCacheTTL,
	}
}

func (v *Vault) dekCache() *dekCache {
	v.cacheOnce.Do(func() {
		size, ttl := v.CacheSize, v.CacheTTL
		if size <= 0 {
			size = DefaultCacheSize
		}
		if ttl <= 0 {
			ttl = DefaultCacheTTL
		}
		v.cache = newDEKCache(size, ttl)
	})
	return v.cache
}

func (v *Vault) maxValueSize() int {
	if v.MaxValueSize <= 0 {
		return DefaultMaxValueSize
	}
	return v.MaxValueSize
}

// errSealed is what callers see when key material cannot be used; the
// detail goes to the operator's log.
func errSealed(err error) error {
	return vargate.Wrap(vargate.KindInternal, err, "credential cannot be opened")
}

// dataKey returns the tenant's data key, unwrapping (and caching) it, or
// creating it if create is set and the tenant has none.
func (v *Vault) dataKey(ctx context.Context, tenantID string, create bool) (*dataKey, error) {
	now := v.Now()
	if k := v.dekCache().get(tenantID, now); k != nil {
		return k, nil
	}
	stored, err := v.Store.DataKey(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) && create {
		return v.createDataKey(ctx, tenantID)
	}
	if err != nil {
		return nil, err
	}
	return v.unwrap(ctx, stored)
}

func (v *Vault) unwrap(ctx context.Context, stored DataKey) (*dataKey, error) {
	dek, err := v.Keys.Unwrap(ctx, stored.Wrapped, stored.KEKID, dataKeyAAD(stored.TenantID, stored.ID))
	if err != nil {
		v.Logger.LogAttrs(ctx, slog.LevelError, "cannot unwrap tenant data key",
			slog.String(logKeyTenant, stored.TenantID), slog.String(logKeyDataKey, stored.ID),
			slog.String(logKeyKEK, stored.KEKID), slog.String(logKeyError, err.Error()))
		return nil, errSealed(err)
	}
	defer clear(dek)
	k, err := newDataKey(stored.ID, stored.TenantID, dek, v.Now())
	if err != nil {
		return nil, errSealed(err)
	}
	v.dekCache().put(k)
	return k, nil
}

func (v *Vault) createDataKey(ctx context.Context, tenantID string) (*dataKey, error) {
	dek := newDEK()
	defer clear(dek)
	id := vargate.NewID("dek-", 8)
	wrapped, kekID, err := v.Keys.Wrap(ctx, dek, dataKeyAAD(tenantID, id))
	if err != nil {
		return nil, fmt.Errorf("wrap new data key: %w", err)
	}
	stored := DataKey{ID: id, TenantID: tenantID, KEKID: kekID, Wrapped: wrapped, CreatedAt: v.Now()}
	err = v.Store.CreateDataKey(ctx, stored)
	if vargate.IsKind(err, vargate.KindConflict) {
		// Another request created the tenant's key first; use that one.
		return v.dataKey(ctx, tenantID, false)
	}
	if err != nil {
		return nil, fmt.Errorf("store data key: %w", err)
	}
	v.Logger.LogAttrs(ctx, slog.LevelInfo, "created tenant data key",
		slog.String(logKeyTenant, tenantID), slog.String(logKeyDataKey, id), slog.String(logKeyKEK, kekID))
	k, err := newDataKey(id, tenantID, dek, v.Now())
	if err != nil {
		return nil, err
	}
	v.dekCache().put(k)
	return k, nil
}

// Register seals and stores a credential. If the tenant already has an
// active credential for the tool and name, the new one becomes the next
// version and the old one's key material is destroyed in the same
// transaction (rotation). The registration is then audited; if that audit
// write fails, the credential is stored but Register reports the error.
func (v *Vault) Register(ctx context.Context, tenantID string, r Registration) (Metadata, error) {
	if tenantID == "" {
		return Metadata{}, vargate.Errorf(vargate.KindUnauthorized, "no tenant")
	}
	value, err := r.validate(v.maxValueSize())
	if err != nil {
		return Metadata{}, err
	}
	defer clear(value)
	k, err := v.dataKey(ctx, tenantID, true)
	if err != nil {
		return Metadata{}, err
	}
	m, err := v.Store.InsertCredential(ctx, Metadata{
		ID: vargate.NewID("cred-", 8), TenantID: tenantID, ToolID: r.ToolID, Name: r.Name,
		Type: r.Type, State: StateActive, Fingerprint: k.fingerprint(value), CreatedAt: v.Now(),
	}, k.id, func(m Metadata) []byte { return k.seal(m, value) })
	if err != nil {
		return Metadata{}, err
	}
	v.Logger.LogAttrs(ctx, slog.LevelInfo, "credential registered",
		slog.String(logKeyTenant, tenantID), slog.String(logKeyCredential, m.ID),
		slog.String(logKeyTool, m.ToolID), slog.String(logKeyName, m.Name), slog.Int(logKeyVersion, m.Version))
	if err := v.audit(ctx, OpRegister, m, SourceVault, Purpose{}); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// List returns the tenant's credentials (active ones unless f.All).
func (v *Vault) List(ctx context.Context, tenantID string, f Filter) ([]Metadata, error) {
	ms, err := v.Store.ListCredentials(ctx, tenantID, f)
	if err != nil {
		return nil, err
	}
	if ms == nil {
		ms = []Metadata{}
	}
	return ms, nil
}

// Get returns one credential's metadata; another tenant's is not found.
func (v *Vault) Get(ctx context.Context, tenantID, id string) (Metadata, error) {
	return v.Store.Credential(ctx, tenantID, id)
}

// Delete destroys a credential's key material; its metadata stays (state
// deleted) so that audit records naming it still resolve. Deleting a
// credential that is already destroyed changes nothing.
func (v *Vault) Delete(ctx context.Context, tenantID, id string) (Metadata, error) {
	before, err := v.Store.Credential(ctx, tenantID, id)
	if err != nil {
		return Metadata{}, err
	}
	m, err := v.Store.DeleteCredential(ctx, tenantID, id, v.Now())
	if err != nil {
		return Metadata{}, err
	}
	if before.State == StateActive {
		v.Logger.LogAttrs(ctx, slog.LevelInfo, "credential deleted",
			slog.String(logKeyTenant, tenantID), slog.String(logKeyCredential, m.ID),
			slog.String(logKeyTool, m.ToolID), slog.String(logKeyName, m.Name), slog.Int(logKeyVersion, m.Version))
		if err := v.audit(ctx, OpDelete, m, SourceVault, Purpose{}); err != nil {
			return Metadata{}, err
		}
	}
	return m, nil
}

// Use returns the value of the tenant's active credential for toolID and
// name (DefaultName if empty), for the connector to use at once and
// forget. The release is audited first: if the audit record cannot be
// written, Use fails and the value is wiped. A credential that exists but
// does not open (tampered, moved, wrong key) is an internal error, never a
// fall-through to anything else.
func (v *Vault) Use(ctx context.Context, tenantID, toolID, name string, p Purpose) (Secret, error) {
	if tenantID == "" {
		return Secret{}, vargate.Errorf(vargate.KindUnauthorized, "no tenant")
	}
	if name == "" {
		name = DefaultName
	}
	if p.ActionID == "" && p.SessionID == "" {
		return Secret{}, vargate.Invalid("purpose", "an action ID or session ID is required to use a credential")
	}
	if err := checkBinding(toolID, p); err != nil {
		v.Logger.LogAttrs(ctx, slog.LevelWarn, "credential refused: not bound to its destination",
			slog.String(logKeyTenant, tenantID), slog.String(logKeyTool, toolID), slog.String(logKeyHost, p.Host),
			slog.String(logKeyAction, p.ActionID), slog.String(logKeySession, p.SessionID))
		return Secret{}, err
	}
	sealed, err := v.Store.ActiveCredential(ctx, tenantID, toolID, name)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return Secret{}, vargate.Errorf(vargate.KindNotFound, "no credential registered for tool %q (name %q)", toolID, name)
		}
		return Secret{}, err
	}
	k, err := v.dataKey(ctx, tenantID, false)
	if err != nil {
		return Secret{}, err
	}
	if k.id != sealed.DataKeyID {
		return Secret{}, v.openFailed(ctx, sealed.Metadata, errors.New("credential names another data key"))
	}
	plain, err := k.open(sealed.Metadata, sealed.Value)
	if err != nil {
		return Secret{}, v.openFailed(ctx, sealed.Metadata, err)
	}
	s := Secret{meta: sealed.Metadata, source: SourceVault, v: &secretBytes{b: plain}}
	if err := v.audit(ctx, OpUse, sealed.Metadata, SourceVault, p); err != nil {
		s.Wipe()
		return Secret{}, err
	}
	// last_used_at is kept to LastUsedResolution: a write per use would
	// cost a commit per tool call, and the audit trail has the exact times.
	now := v.Now()
	if last := sealed.LastUsedAt; last == nil || now.Sub(*last) >= LastUsedResolution || now.Before(*last) {
		if err := v.Store.TouchCredential(ctx, tenantID, sealed.ID, now); err != nil {
			// The access is audited; a stale last_used_at is not worth failing the action.
			v.Logger.LogAttrs(ctx, slog.LevelWarn, "cannot record credential last use",
				slog.String(logKeyCredential, sealed.ID), slog.String(logKeyError, err.Error()))
		}
		s.meta.LastUsedAt = &now
	}
	v.Logger.LogAttrs(ctx, slog.LevelDebug, "credential used",
		slog.String(logKeyTenant, tenantID), slog.String(logKeyCredential, sealed.ID),
		slog.String(logKeyTool, toolID), slog.Int(logKeyVersion, sealed.Version),
		slog.String(logKeyAction, p.ActionID), slog.String(logKeySession, p.SessionID))
	return s, nil
}

// UseOrFallback is Use, except that when the tenant has no active
// credential for the tool and name it returns fallback (if not zero),
// audited with SourceEnvironment. The session layer calls it with
// AnthropicToolID and EnvSecret(…, "ANTHROPIC_API_KEY", …). A credential
// that exists but fails to open is an error, not a reason to fall back.
func (v *Vault) UseOrFallback(ctx context.Context, tenantID, toolID, name string, fallback Secret, p Purpose) (Secret, error) {
	s, err := v.Use(ctx, tenantID, toolID, name, p)
	if err == nil || !vargate.IsKind(err, vargate.KindNotFound) || fallback.IsZero() {
		return s, err
	}
	m := fallback.meta
	m.TenantID = tenantID
	if err := v.audit(ctx, OpUse, m, SourceEnvironment, p); err != nil {
		return Secret{}, err
	}
	return fallback, nil
}

func (v *Vault) openFailed(ctx context.Context, m Metadata, err error) error {
	v.Logger.LogAttrs(ctx, slog.LevelError, "credential failed to open: tampered, moved or wrong key",
		slog.String(logKeyTenant, m.TenantID), slog.String(logKeyCredential, m.ID),
		slog.String(logKeyTool, m.ToolID), slog.Int(logKeyVersion, m.Version), slog.String(logKeyError, err.Error()))
	return errSealed(err)
}

// audit records an operation. It outlives a client that disconnects:
// the record of a released value must be written even if the request is
// cancelled.
func (v *Vault) audit(ctx context.Context, op Op, m Metadata, src Source, p Purpose) error {
	if v.Auditor == nil {
		return vargate.Errorf(vargate.KindUnavailable, "credential audit is not configured")
	}
	if p.Actor == "" {
		// Register and Delete come from an authenticated request.
		if pr, ok := vargate.FromContext(ctx); ok {
			p.Actor = pr.KeyID
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := v.Auditor.RecordCredentialAccess(actx, Access{
		Op: op, TenantID: m.TenantID, CredentialID: m.ID, ToolID: m.ToolID, Name: m.Name,
		Type: m.Type, Version: m.Version, Source: src, Fingerprint: m.Fingerprint,
		ActionID: p.ActionID, SessionID: p.SessionID, Actor: p.Actor, At: v.Now(),
	})
	if err != nil {
		return vargate.Wrap(vargate.KindUnavailable, err, "credential audit record could not be written")
	}
	return nil
}
