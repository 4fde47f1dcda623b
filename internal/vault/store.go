package vault

import (
	"context"
	"time"
)

// DataKey is a tenant's data key as stored: wrapped by a KEK.
type DataKey struct {
	ID          string
	TenantID    string
	KEKID       string
	Wrapped     []byte
	CreatedAt   time.Time
	RewrappedAt *time.Time
}

// Sealed is a stored credential version: its metadata and, while active,
// its sealed value.
type Sealed struct {
	Metadata
	DataKeyID string
	// Value is the sealed value (format byte, nonce, ciphertext, tag); nil
	// once the version is superseded or deleted.
	Value []byte
}

// KEKUsage counts the data keys wrapped by one KEK.
type KEKUsage struct {
	KEKID    string
	DataKeys int
}

// Filter narrows List.
type Filter struct {
	// ToolID, if set, keeps only that tool's credentials.
	ToolID string
	// All includes superseded and deleted versions (metadata only).
	All bool
}

// Store persists data keys and sealed credentials. Every credential method
// is scoped by tenant: another tenant's credential is not found.
type Store interface {
	// DataKey returns the tenant's data key (KindNotFound if none).
	DataKey(ctx context.Context, tenantID string) (DataKey, error)
	// CreateDataKey stores a tenant's data key; KindConflict if the tenant
	// already has one.
	CreateDataKey(ctx context.Context, k DataKey) error
	// DataKeysNotUnder returns up to limit data keys whose KEK is not
	// kekID, with IDs after afterID, ordered by ID.
	DataKeysNotUnder(ctx context.Context, kekID, afterID string, limit int) ([]DataKey, error)
	// RewrapDataKey replaces a data key's wrapping if it is still wrapped
	// by fromKEK; it reports whether it did.
	RewrapDataKey(ctx context.Context, id, fromKEK string, wrapped []byte, toKEK string, at time.Time) (bool, error)
	// KEKUsage counts data keys per KEK.
	KEKUsage(ctx context.Context) ([]KEKUsage, error)

	// InsertCredential stores the next version of m's tenant, tool and
	// name. In one transaction, which serialises registrations per tenant,
	// it sets m.Version to one more than the highest version ever stored
	// for that tool and name, calls seal with the final metadata for the
	// sealed value, supersedes the active version (destroying its sealed
	// value) and inserts the new one. It returns the stored metadata.
	InsertCredential(ctx context.Context, m Metadata, dataKeyID string, seal func(Metadata) []byte) (Metadata, error)
	// Credential returns a credential's metadata, in any state.
	Credential(ctx context.Context, tenantID, id string) (Metadata, error)
	// ListCredentials returns the tenant's credentials by tool, name and
	// version (newest first).
	ListCredentials(ctx context.Context, tenantID string, f Filter) ([]Metadata, error)
	// ActiveCredential returns the active version of the tenant's tool and
	// name with its sealed value (KindNotFound if none).
	ActiveCredential(ctx context.Context, tenantID, toolID, name string) (Sealed, error)
	// DeleteCredential destroys the sealed value of an active credential
	// and marks it deleted; a credential already destroyed is left as it
	// is. It returns the resulting metadata.
	DeleteCredential(ctx context.Context, tenantID, id string, at time.Time) (Metadata, error)
	// TouchCredential sets last_used_at.
	TouchCredential(ctx context.Context, tenantID, id string, at time.Time) error
}
