package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

// SecretPrefix starts every signing secret: "whsec_" and the key in
// standard base64, as Standard Webhooks libraries expect.
const SecretPrefix = "whsec_"

// Key sizes a secret may have, in bytes (the Standard Webhooks range).
const (
	MinKeyBytes = 24
	MaxKeyBytes = 64
	newKeyBytes = 32
)

// Headers of a signed request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns a fresh signing secret.
func NewSecret() string {
	b := make([]byte, newKeyBytes)
	if _, err := rand.Read(b); err != nil {
		panic("webhook: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret returns the HMAC key of a "whsec_…" secret. Errors never
// quote the secret.
func ParseSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, vargate.Invalid("webhook_secret", "must start with %q followed by a base64 key (omit it to have one generated)", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, vargate.Invalid("webhook_secret", "the part after %q must be standard base64", SecretPrefix)
	}
	if len(key) < MinKeyBytes || len(key) > MaxKeyBytes {
		return nil, vargate.Invalid("webhook_secret", "the key must be %d to %d bytes, not %d", MinKeyBytes, MaxKeyBytes, len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature value for a message: "v1," and the
// base64 HMAC-SHA256, under key, of "id.timestamp.body".
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Tolerance is how far a request's timestamp may be from the receiver's
// clock in Verify.
const Tolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrTimestamp    = errors.New("webhook: timestamp missing, malformed or outside the tolerance")
	ErrBadSignature = errors.New("webhook: no signature matches")
)

// Verify checks a received request's headers and body against secret, as
// a receiver would (for Go receivers and tests). The signature header may
// carry several space-separated signatures; one valid "v1" one suffices.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	want := Sign(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		if strings.HasPrefix(sig, "v1,") && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}
