//go:build cgo

package vault

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// PKCS11KeyProvider keeps KEKs inside an HSM, reached through a PKCS#11
// module: AES-256 secret keys generated on the token as sensitive and
// non-extractable, labelled PKCS11Config.KeyLabel, each with a CKA_ID of
// eight big-endian bytes of its creation time so that the newest is the
// current one. Data keys are wrapped by AES-GCM encryption performed inside
// the HSM (CKM_AES_GCM); the KEK never leaves it.
type PKCS11KeyProvider struct {
	cfg    PKCS11Config
	logger *slog.Logger
	ctx    *crypto11.Context

	mu    sync.Mutex
	keys  map[string]cipher.AEAD // by KEK ID
	order []string               // sorted; the last is current
}

const pkcs11Scheme = "vargate/vault/kek/pkcs11/v1"
const pkcs11IDPrefix = "pkcs11:"

// gcmNonceSize is the nonce we pass to the HSM's AES-GCM. We generate it
// (random, 96 bits) rather than let the token choose, so that wrapped keys
// are self-contained.
const gcmNonceSize = 12

// OpenPKCS11KeyProvider logs in to the token and loads the KEKs labelled
// cfg.KeyLabel, generating the first one if there is none.
func OpenPKCS11KeyProvider(ctx context.Context, cfg PKCS11Config, logger *slog.Logger) (*PKCS11KeyProvider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeyLabel == "" {
		cfg.KeyLabel = DefaultPKCS11KeyLabel
	}
	switch {
	case cfg.Module == "":
		return nil, errors.New("pkcs11 key provider: VARGATE_PKCS11_MODULE (the PKCS#11 library path) is not set")
	case cfg.TokenLabel == "":
		return nil, errors.New("pkcs11 key provider: VARGATE_PKCS11_TOKEN_LABEL is not set")
	case cfg.PIN == "":
		return nil, errors.New("pkcs11 key provider: VARGATE_PKCS11_PIN is not set")
	}
	c11, err := crypto11.Configure(&crypto11.Config{
		Path:        cfg.Module,
		TokenLabel:  cfg.TokenLabel,
		Pin:         cfg.PIN,
		GCMIVLength: gcmNonceSize,
	})
	if err != nil {
		// crypto11's messages name the module and token, never the PIN.
		return nil, fmt.Errorf("pkcs11 key provider (%s): %w", cfg, err)
	}
	p := &PKCS11KeyProvider{cfg: cfg, logger: logger, ctx: c11}
	p.mu.Lock()
	err = p.loadLocked()
	if err == nil && len(p.order) == 0 {
		_, err = p.generateLocked(ctx)
	}
	p.mu.Unlock()
	if err != nil {
		c11.Close()
		return nil, err
	}
	return p, nil
}

// loadLocked finds every KEK with the configured label.
func (p *PKCS11KeyProvider) loadLocked() error {
	found, err := p.ctx.FindKeys(nil, []byte(p.cfg.KeyLabel))
	if err != nil {
		return fmt.Errorf("pkcs11: find keys labelled %q: %w", p.cfg.KeyLabel, err)
	}
	keys := map[string]cipher.AEAD{}
	var order []string
	for _, k := range found {
		attr, err := p.ctx.GetAttribute(k, crypto11.CkaId)
		if err != nil {
			return fmt.Errorf("pkcs11: read key ID: %w", err)
		}
		if len(attr.Value) == 0 {
			continue
		}
		aead, err := k.NewGCM()
		if err != nil {
			return fmt.Errorf("pkcs11: key labelled %q is not an AES key: %w", p.cfg.KeyLabel, err)
		}
		id := pkcs11IDPrefix + hex.EncodeToString(attr.Value)
		keys[id] = aead
		order = append(order, id)
	}
	sort.Strings(order) // fixed-width hex of big-endian times sorts by age
	p.keys, p.order = keys, order
	return nil
}

// generateLocked creates a new KEK on the token and makes it current.
func (p *PKCS11KeyProvider) generateLocked(ctx context.Context) (string, error) {
	id := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
	template, err := crypto11.NewAttributeSetWithIDAndLabel(id, []byte(p.cfg.KeyLabel))
	if err != nil {
		return "", err
	}
	// Spelled out although crypto11 defaults to them: the KEK must never
	// leave the token, and may only encrypt and decrypt.
	for _, a := range []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
	} {
		template[a.Type] = a
	}
	if _, err := p.ctx.GenerateSecretKeyWithAttributes(template, 256, crypto11.CipherAES); err != nil {
		return "", fmt.Errorf("pkcs11: generate KEK: %w", err)
	}
	if err := p.loadLocked(); err != nil {
		return "", err
	}
	kekID := pkcs11IDPrefix + hex.EncodeToString(id)
	if _, ok := p.keys[kekID]; !ok {
		return "", fmt.Errorf("pkcs11: generated KEK %s not found on the token", kekID)
	}
	p.logger.LogAttrs(ctx, slog.LevelInfo, "created key-encryption key in HSM",
		slog.String(logKeyKEK, kekID), slog.String("token", p.cfg.TokenLabel), slog.String("key_label", p.cfg.KeyLabel))
	return kekID, nil
}

// current returns the current KEK, re-reading the token so that a KEK
// created by `vargate vault rotate-kek` elsewhere is used from now on.
func (p *PKCS11KeyProvider) current() (string, cipher.AEAD, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return "", nil, err
	}
	if len(p.order) == 0 {
		return "", nil, fmt.Errorf("pkcs11: no key labelled %q on token %q", p.cfg.KeyLabel, p.cfg.TokenLabel)
	}
	id := p.order[len(p.order)-1]
	return id, p.keys[id], nil
}

// Wrap implements KeyProvider.
func (p *PKCS11KeyProvider) Wrap(_ context.Context, dek, aad []byte) (wrapped []byte, kekID string, err error) {
	kekID, aead, err := p.current()
	if err != nil {
		return nil, "", err
	}
	nonce := make([]byte, gcmNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	// crypto11's Seal panics when the token fails; turn that into an error.
	defer func() {
		if v := recover(); v != nil {
			wrapped, kekID, err = nil, "", fmt.Errorf("pkcs11: wrap data key: %v", v)
		}
	}()
	out := append([]byte{sealV1}, nonce...)
	return aead.Seal(out, nonce, dek, kekAAD(pkcs11Scheme, aad)), kekID, nil
}

// Unwrap implements KeyProvider.
func (p *PKCS11KeyProvider) Unwrap(_ context.Context, wrapped []byte, kekID string, aad []byte) ([]byte, error) {
	if !strings.HasPrefix(kekID, pkcs11IDPrefix) {
		return nil, errUnknownKEK(kekID, ProviderPKCS11)
	}
	p.mu.Lock()
	aead, ok := p.keys[kekID]
	if !ok {
		if err := p.loadLocked(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		aead, ok = p.keys[kekID]
	}
	p.mu.Unlock()
	if !ok {
		return nil, errUnknownKEK(kekID, ProviderPKCS11)
	}
	if len(wrapped) < 1+gcmNonceSize+16 || wrapped[0] != sealV1 {
		return nil, errors.New("wrapped data key is malformed")
	}
	dek, err := aead.Open(nil, bytes.Clone(wrapped[1:1+gcmNonceSize]), wrapped[1+gcmNonceSize:], kekAAD(pkcs11Scheme, aad))
	if err != nil {
		return nil, errors.New("wrapped data key failed authentication in the HSM")
	}
	return dek, nil
}

// CurrentKEK implements KeyProvider.
func (p *PKCS11KeyProvider) CurrentKEK(context.Context) (string, error) {
	id, _, err := p.current()
	return id, err
}

// KEKs implements KeyProvider.
func (p *PKCS11KeyProvider) KEKs(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return nil, err
	}
	return append([]string(nil), p.order...), nil
}

// NewKEK implements KeyProvider.
func (p *PKCS11KeyProvider) NewKEK(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.generateLocked(ctx)
}

// Close logs out and unloads the module.
func (p *PKCS11KeyProvider) Close() error { return p.ctx.Close() }
