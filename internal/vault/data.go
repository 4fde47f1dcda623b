package vault

import (
	"context"

	"github.com/vargate/vargate"
)

// dataAAD is the additional data a non-credential value is sealed with: it
// binds the ciphertext to its tenant and purpose, so that a value copied
// to another tenant, or used for another purpose, does not open.
func dataAAD(tenantID, purpose string) []byte {
	b := appendField(nil, "vargate/vault/data/v1")
	b = appendField(b, tenantID)
	return appendField(b, purpose)
}

// Seal encrypts a value that is not a credential — approval arguments and
// results of sensitive calls, webhook signing secrets — under the tenant's
// data key (created if the tenant has none), bound to purpose. Only Open
// with the same tenant and purpose returns it. KEK rotation does not
// affect sealed values: it rewraps the data key, which stays the same.
func (v *Vault) Seal(ctx context.Context, tenantID, purpose string, plaintext []byte) ([]byte, error) {
	if tenantID == "" {
		return nil, vargate.Errorf(vargate.KindUnauthorized, "no tenant")
	}
	if purpose == "" {
		return nil, vargate.Invalid("purpose", "a purpose is required to seal a value")
	}
	k, err := v.dataKey(ctx, tenantID, true)
	if err != nil {
		return nil, err
	}
	return k.sealAAD(dataAAD(tenantID, purpose), plaintext), nil
}

// Open decrypts a value sealed by Seal for the same tenant and purpose. A
// value that fails authentication (tampered, another tenant's, another
// purpose) is an internal error.
func (v *Vault) Open(ctx context.Context, tenantID, purpose string, sealed []byte) ([]byte, error) {
	if tenantID == "" {
		return nil, vargate.Errorf(vargate.KindUnauthorized, "no tenant")
	}
	k, err := v.dataKey(ctx, tenantID, false)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return nil, errSealed(errOpen) // no data key: nothing was sealed for this tenant
		}
		return nil, err
	}
	pt, err := k.openAAD(dataAAD(tenantID, purpose), sealed)
	if err != nil {
		return nil, errSealed(err)
	}
	return pt, nil
}
