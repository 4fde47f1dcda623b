package webhook_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/webhook"
)

// TestSignVector checks Sign against the published Standard Webhooks test
// vector.
func TestSignVector(t *testing.T) {
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func signedHeaders(secret, id string, ts time.Time, body []byte) http.Header {
	key, _ := webhook.ParseSecret(secret)
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, webhook.Sign(key, id, ts, body))
	return h
}

// TestSignVerifiesWithStandardLibrary: the Standard Webhooks Go library
// accepts what Sign produces, and Verify agrees with it on tampering.
func TestSignVerifiesWithStandardLibrary(t *testing.T) {
	secret := webhook.NewSecret()
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"action.denied","timestamp":"2026-06-01T12:00:00.000000Z","data":{"tool":"send_email"}}`)
	good := signedHeaders(secret, "msg_1", now, body)
	if err := lib.Verify(body, good); err != nil {
		t.Errorf("standard library rejects our signature: %v", err)
	}
	if err := webhook.Verify(secret, good, body, now); err != nil {
		t.Errorf("Verify: %v", err)
	}
	other := webhook.NewSecret()
	cases := []struct {
		name    string
		secret  string
		headers http.Header
		body    []byte
	}{
		{"body changed", secret, good, append([]byte(nil), append(body[:len(body)-1], ' ', '}')...)},
		{"id changed", secret, func() http.Header { h := good.Clone(); h.Set(webhook.HeaderID, "msg_2"); return h }(), body},
		{"timestamp changed", secret, func() http.Header {
			h := good.Clone()
			h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return h
		}(), body},
		{"other secret", other, good, body},
		{"too old", secret, signedHeaders(secret, "msg_1", now.Add(-10*time.Minute), body), body},
		{"no signature", secret, func() http.Header { h := good.Clone(); h.Del(webhook.HeaderSignature); return h }(), body},
	}
	for _, c := range cases {
		if err := webhook.Verify(c.secret, c.headers, c.body, now); err == nil {
			t.Errorf("%s: Verify accepted", c.name)
		}
		libc, _ := standardwebhooks.NewWebhook(c.secret)
		if err := libc.Verify(c.body, c.headers); err == nil {
			t.Errorf("%s: the standard library accepted", c.name)
		}
	}
	// Several signatures (during a secret rotation): one valid suffices.
	multi := good.Clone()
	multi.Set(webhook.HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))+" "+good.Get(webhook.HeaderSignature))
	if err := webhook.Verify(secret, multi, body, now); err != nil {
		t.Errorf("several signatures: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	for _, c := range []struct {
		secret string
		ok     bool
	}{
		{webhook.NewSecret(), true},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 24)), true},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)), true},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)), false},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), false},
		{"whsec_...", false},
		{"my-shared-secret", false},
		{"", false},
	} {
		_, err := webhook.ParseSecret(c.secret)
		if (err == nil) != c.ok {
			t.Errorf("ParseSecret(%.12q…): %v, want ok=%v", c.secret, err, c.ok)
		}
		if err != nil && !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("ParseSecret error kind: %v", err)
		}
	}
}
