// Package vaulttest holds test doubles of the vault for other packages'
// tests. It imports only the standard library.
package vaulttest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// Sealer seals like the vault's Seal/Open (the Sealer interfaces of
// internal/approval and internal/webhook): AES-GCM, the ciphertext bound
// to tenant and purpose, so that opening for another tenant or purpose
// fails and nothing sealed is stored readable. Its key is fixed, so a
// child process opens what its parent sealed.
type Sealer struct{ aead cipher.AEAD }

// key is the fixed test key (32 bytes: AES-256).
var key = []byte("vargate-vaulttest-sealer-key-32b")

// NewSealer returns a Sealer under the fixed test key.
func NewSealer() *Sealer {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return &Sealer{g}
}

// Seal encrypts plaintext for tenantID and purpose.
func (s *Sealer) Seal(_ context.Context, tenantID, purpose string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, additional(tenantID, purpose)), nil
}

// Open decrypts what Seal sealed for the same tenantID and purpose.
func (s *Sealer) Open(_ context.Context, tenantID, purpose string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("vaulttest: sealed value too short")
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional(tenantID, purpose))
	if err != nil {
		return nil, errors.New("vaulttest: sealed for another tenant or purpose, or altered")
	}
	return pt, nil
}

func additional(tenantID, purpose string) []byte { return []byte(tenantID + "\x00" + purpose) }
