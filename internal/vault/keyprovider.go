package vault

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// KeyProvider holds the key-encryption keys (KEKs) that wrap tenant data
// keys. KEK material never leaves the provider: the local provider keeps it
// in a 0600 file outside the database, the PKCS#11 provider inside an HSM.
// A provider knows several KEKs by ID so that they can be rotated while
// the gateway runs: Wrap uses the current one, Unwrap any known one.
// Implementations are safe for concurrent use.
type KeyProvider interface {
	// Wrap encrypts a data key under the current KEK, authenticating aad
	// with it, and returns the KEK's ID.
	Wrap(ctx context.Context, dek, aad []byte) (wrapped []byte, kekID string, err error)
	// Unwrap decrypts a data key wrapped by Wrap under kekID with the same aad.
	Unwrap(ctx context.Context, wrapped []byte, kekID string, aad []byte) ([]byte, error)
	// CurrentKEK returns the ID of the KEK that Wrap uses now.
	CurrentKEK(ctx context.Context) (string, error)
	// KEKs lists the IDs of every KEK the provider has.
	KEKs(ctx context.Context) ([]string, error)
	// NewKEK creates a KEK and makes it current. Older KEKs stay available
	// to Unwrap (and to gateways that have not yet seen the new one).
	NewKEK(ctx context.Context) (string, error)
	// Close releases the provider's resources.
	Close() error
}

// The key providers.
const (
	ProviderLocal  = "local"
	ProviderPKCS11 = "pkcs11"
)

// KEKFileName is the local provider's key file inside the data directory.
const KEKFileName = "kek.key"

// KeyProviderConfig selects and configures a key provider.
type KeyProviderConfig struct {
	// Provider is ProviderLocal (the default when empty) or ProviderPKCS11.
	Provider string
	// DataDir holds the local provider's KEKFileName.
	DataDir string
	// PKCS11 configures the PKCS#11 provider.
	PKCS11 PKCS11Config
}

// PKCS11Config locates the HSM token and the KEK inside it.
type PKCS11Config struct {
	// Module is the path of the PKCS#11 library (VARGATE_PKCS11_MODULE),
	// e.g. /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel selects the token (VARGATE_PKCS11_TOKEN_LABEL).
	TokenLabel string
	// PIN is the user PIN (VARGATE_PKCS11_PIN).
	PIN string
	// KeyLabel is the CKA_LABEL of the KEKs (VARGATE_PKCS11_KEY_LABEL,
	// DefaultPKCS11KeyLabel when empty).
	KeyLabel string
}

// DefaultPKCS11KeyLabel is the KEK label when PKCS11Config.KeyLabel is empty.
const DefaultPKCS11KeyLabel = "vargate-kek"

// String describes the configuration without the PIN.
func (c PKCS11Config) String() string {
	return fmt.Sprintf("module=%s token=%s key_label=%s", c.Module, c.TokenLabel, c.KeyLabel)
}

// LogValue implements slog.LogValuer without the PIN.
func (c PKCS11Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("module", c.Module), slog.String("token", c.TokenLabel), slog.String("key_label", c.KeyLabel))
}

// OpenKeyProvider opens the configured provider. The local provider
// creates its key file on first start.
func OpenKeyProvider(ctx context.Context, cfg KeyProviderConfig, logger *slog.Logger) (KeyProvider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch strings.ToLower(cfg.Provider) {
	case "", ProviderLocal:
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("local key provider: no data directory")
		}
		return OpenLocalKeyProvider(filepath.Join(cfg.DataDir, KEKFileName), logger)
	case ProviderPKCS11:
		return OpenPKCS11KeyProvider(ctx, cfg.PKCS11, logger)
	}
	return nil, fmt.Errorf("unknown key provider %q: want %s or %s", cfg.Provider, ProviderLocal, ProviderPKCS11)
}

// kekAAD prefixes the caller's additional data with the provider's domain,
// so that a value wrapped by one scheme is never accepted by another.
func kekAAD(scheme string, aad []byte) []byte {
	b := appendField(nil, scheme)
	return append(b, aad...)
}

// errUnknownKEK says that a data key names a KEK the provider lacks.
func errUnknownKEK(kekID, provider string) error {
	return fmt.Errorf("data key is wrapped by KEK %q, which the %s key provider does not have (wrong key file or HSM token, or the KEK was removed)", kekID, provider)
}
