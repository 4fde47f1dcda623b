package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StoredVersion is a tenant policy version as the Store keeps it.
type StoredVersion struct {
	TenantID string
	// Label is unique within the tenant and never reused.
	Label string
	// Modules are the Rego sources by file name, exactly as uploaded.
	Modules   map[string]string
	CreatedAt time.Time
	// CreatedBy is the KeyID of the principal that uploaded the version.
	CreatedBy string
}

// Store keeps every tenant policy version forever (so that any past
// decision can be re-run against the version that made it) and which
// version each tenant has active. Implementations: sqlite and postgres.
type Store interface {
	// CreatePolicyVersion saves a new version, which must already have
	// passed Compile. An empty Label is assigned "v<N>": N is the
	// tenant's number of versions plus one, or the next number whose
	// label is free. A label the tenant has used before is a KindConflict
	// error. It returns the version as saved, with Label and CreatedAt
	// set.
	CreatePolicyVersion(ctx context.Context, v StoredVersion) (StoredVersion, error)

	// GetPolicyVersion returns a tenant's version by label, or a
	// KindNotFound error.
	GetPolicyVersion(ctx context.Context, tenantID, label string) (StoredVersion, error)

	// ListPolicyVersions lists a tenant's versions, newest first, without
	// their Modules.
	ListPolicyVersions(ctx context.Context, tenantID string) ([]StoredVersion, error)

	// ActivatePolicyVersion makes label the tenant's active version, or
	// returns KindNotFound if the tenant has no such version. Activating
	// an older version is how a tenant rolls back.
	ActivatePolicyVersion(ctx context.Context, tenantID, label string) error

	// GetActivePolicyVersion returns the tenant's active version, or a
	// KindNotFound error when the tenant has never activated one (the
	// base policy then applies).
	GetActivePolicyVersion(ctx context.Context, tenantID string) (StoredVersion, error)

	// ActivePolicyLabels returns the active label of every tenant that
	// has activated a version (the others have the base policy): one cheap
	// read, so that gateways sharing a database can follow each other's
	// activations.
	ActivePolicyLabels(ctx context.Context) (map[string]string, error)
}

// Activation is one change of a tenant's active version, kept forever
// like the versions themselves.
type Activation struct {
	TenantID string
	// Seq numbers the tenant's activations from 1.
	Seq int64
	// Label is the version that became active.
	Label string
	// Previous is the version that was active just before (BaseLabel when
	// none was).
	Previous string
	// Rollback is set when the activation undid an earlier one.
	Rollback    bool
	ActivatedAt time.Time
	// ActivatedBy is the KeyID of the principal that made the change.
	ActivatedBy string
}

// ModulesDigest identifies a version's sources: "sha256:" and the SHA-256
// of the lines "<hex SHA-256 of the source>  <file name>\n", one per
// module in byte order of the names. That is what `sha256sum *.rego |
// sha256sum` prints in a directory of the modules (with LC_ALL=C).
func ModulesDigest(modules map[string]string) string {
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s  %s\n", ModuleDigest(modules[name])[len("sha256:"):], name)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ModuleDigest is "sha256:" and the SHA-256 of one module's source.
func ModuleDigest(source string) string {
	sum := sha256.Sum256([]byte(source))
	return "sha256:" + hex.EncodeToString(sum[:])
}
