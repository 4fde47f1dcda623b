package vault

import (
	"container/list"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// dekSize is the data-key length: AES-256.
const dekSize = 32

// sealV1 is the first byte of every sealed value: AES-256-GCM, 12-byte
// random nonce, 16-byte tag, additional data from credentialAAD.
const sealV1 = 0x01

// errOpen is returned when a sealed value fails authentication: tampered
// ciphertext, a value moved to another row, or the wrong key.
var errOpen = errors.New("sealed value failed authentication")

// dataKey is an unwrapped tenant data key, ready to seal and open.
type dataKey struct {
	id       string
	tenantID string
	aead     cipher.AEAD
	fpKey    []byte // HMAC key for fingerprints, derived from the DEK
	loaded   time.Time
}

func newDataKey(id, tenantID string, dek []byte, now time.Time) (*dataKey, error) {
	if len(dek) != dekSize {
		return nil, errors.New("data key has the wrong length")
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	fpKey, err := hkdf.Key(sha256.New, dek, nil, "vargate vault fingerprint v1", 32)
	if err != nil {
		return nil, err
	}
	return &dataKey{id: id, tenantID: tenantID, aead: aead, fpKey: fpKey, loaded: now}, nil
}

// newDEK returns a fresh random data key.
func newDEK() []byte {
	b := make([]byte, dekSize)
	if _, err := rand.Read(b); err != nil {
		panic("vault: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return b
}

// appendField appends a length-prefixed field so that no two field lists
// encode alike ("ab"+"c" ≠ "a"+"bc").
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// credentialAAD is the additional data a credential value is sealed with:
// it binds the ciphertext to its row, so that a value copied to another
// tenant, credential, tool, name, type or version does not open.
func credentialAAD(m Metadata) []byte {
	b := make([]byte, 0, 128)
	b = appendField(b, "vargate/vault/credential/v1")
	b = appendField(b, m.TenantID)
	b = appendField(b, m.ID)
	b = appendField(b, m.ToolID)
	b = appendField(b, m.Name)
	b = appendField(b, string(m.Type))
	return binary.BigEndian.AppendUint64(b, uint64(m.Version))
}

// dataKeyAAD binds a wrapped data key to its tenant and ID, so that a
// wrapped key copied to another tenant's row does not unwrap.
func dataKeyAAD(tenantID, id string) []byte {
	b := appendField(nil, "vargate/vault/dek/v1")
	b = appendField(b, tenantID)
	return appendField(b, id)
}

func (k *dataKey) seal(m Metadata, plaintext []byte) []byte {
	return k.sealAAD(credentialAAD(m), plaintext)
}

func (k *dataKey) open(m Metadata, sealed []byte) ([]byte, error) {
	return k.openAAD(credentialAAD(m), sealed)
}

// sealAAD seals plaintext with the given additional data (sealV1 format).
func (k *dataKey) sealAAD(aad, plaintext []byte) []byte {
	out := make([]byte, 1, 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = sealV1
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("vault: crypto/rand failed: " + err.Error())
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad)
}

// openAAD opens a value sealed by sealAAD with the same additional data.
func (k *dataKey) openAAD(aad, sealed []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != sealV1 {
		return nil, errOpen
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

// fingerprint is a short keyed MAC of a value: stable per tenant, and —
// unlike a plain hash — no help in guessing a weak password offline.
func (k *dataKey) fingerprint(value []byte) string {
	mac := hmac.New(sha256.New, k.fpKey)
	mac.Write(value)
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// dekCache keeps unwrapped data keys by tenant, least recently used first
// out, each for at most ttl (so that disabling a KEK in the HSM takes
// effect within ttl even for busy tenants).
type dekCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order *list.List // of *dataKey, most recent at the front
	byTen map[string]*list.Element
}

func newDEKCache(max int, ttl time.Duration) *dekCache {
	return &dekCache{max: max, ttl: ttl, order: list.New(), byTen: map[string]*list.Element{}}
}

func (c *dekCache) get(tenantID string, now time.Time) *dataKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byTen[tenantID]
	if !ok {
		return nil
	}
	k := e.Value.(*dataKey)
	if c.ttl > 0 && now.Sub(k.loaded) > c.ttl {
		c.order.Remove(e)
		delete(c.byTen, tenantID)
		return nil
	}
	c.order.MoveToFront(e)
	return k
}

func (c *dekCache) put(k *dataKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byTen[k.tenantID]; ok {
		e.Value = k
		c.order.MoveToFront(e)
		return
	}
	c.byTen[k.tenantID] = c.order.PushFront(k)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byTen, last.Value.(*dataKey).tenantID)
	}
}
