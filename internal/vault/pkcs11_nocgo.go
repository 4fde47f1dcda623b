//go:build !cgo

package vault

import (
	"context"
	"errors"
	"log/slog"
)

// PKCS11KeyProvider is unavailable in binaries built without cgo, which
// loading a PKCS#11 module requires.
type PKCS11KeyProvider struct{ KeyProvider }

// OpenPKCS11KeyProvider fails: this binary was built with CGO_ENABLED=0.
func OpenPKCS11KeyProvider(context.Context, PKCS11Config, *slog.Logger) (*PKCS11KeyProvider, error) {
	return nil, errors.New("pkcs11 key provider: this vargate binary was built without cgo; rebuild with CGO_ENABLED=1 to use an HSM")
}
