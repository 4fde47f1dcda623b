package tools_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

const canary = "canary-7f3a9c1e5b-secret"

// leaks reports the encodings of canary found in s.
func leaks(s string) []string {
	var found []string
	for name, form := range map[string]string{
		"raw": canary, "hex": hex.EncodeToString([]byte(canary)), "HEX": strings.ToUpper(hex.EncodeToString([]byte(canary))),
		"base64": base64.StdEncoding.EncodeToString([]byte(canary)), "base64url": base64.RawURLEncoding.EncodeToString([]byte(canary)),
		"query": url.QueryEscape(canary),
	} {
		if strings.Contains(s, form) {
			found = append(found, name)
		}
	}
	// A value base64-encoded inside a longer text, at any alignment.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for _, field := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(` "\,:{}[]`, r) }) {
			for k := range 4 {
				if len(field) <= k {
					break
				}
				f := field[k:]
				f = f[:len(f)/4*4]
				if b, err := enc.DecodeString(f); err == nil && strings.Contains(string(b), canary) {
					found = append(found, "embedded base64")
				}
			}
		}
	}
	return found
}

// TestCanaryEchoingTenantTool: a tenant tool's upstream echoes its whole
// request back, in every encoding it can think of. The credential value
// the gateway injected must not come back in the result, nor in the error
// of a failed connection (whose URL carries a query credential).
func TestCanaryEchoingTenantTool(t *testing.T) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump := fmt.Sprintf("%s %s %v", r.Method, r.URL.String(), r.Header)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"raw": dump, "url": r.URL.String(), "headers": r.Header,
			"base64":    base64.StdEncoding.EncodeToString([]byte("prefix:" + dump)),
			"base64url": base64.URLEncoding.EncodeToString([]byte("xy" + dump)),
			"hex":       hex.EncodeToString([]byte(dump)), "escaped": url.QueryEscape(dump),
		})
	}))
	defer api.Close()
	for _, c := range []struct {
		name  string
		typ   vault.Type
		value string
		ref   tools.CredentialRef
	}{
		{"query", vault.TypeAPIKey, canary, tools.CredentialRef{In: "query", Param: "key"}},
		{"header", vault.TypeAPIKey, canary, tools.CredentialRef{In: "header", Param: "X-Api-Key"}},
		{"bearer", vault.TypeBearerToken, canary, tools.CredentialRef{In: "bearer"}},
		{"basic", vault.TypeBasicAuth, `{"username":"bot","password":"` + canary + `"}`, tools.CredentialRef{In: "basic"}},
		{"custom header", vault.TypeHeader, `{"name":"X-Token","value":"` + canary + `"}`, tools.CredentialRef{In: "header"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			creds := newCreds()
			creds.put("t1", "http:127.0.0.1", "", c.typ, c.value)
			cat := tools.NewCatalog()
			cat.Store = newMemStore()
			cat.Runner = tlsRunner(&netguard.Guard{AllowPrivate: true}, creds, api)
			ref := c.ref
			ref.ToolID = "http:127.0.0.1"
			if _, err := cat.Create(t.Context(), "t1", "key-1", tools.TenantTool{
				Name: "echo", Description: "Echo", InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`),
				Request: tools.RequestTemplate{Method: "GET", URL: api.URL + "/echo?q={q}"}, Credential: &ref,
			}); err != nil {
				t.Fatal(err)
			}
			set, err := cat.Set(t.Context(), "t1")
			if err != nil {
				t.Fatal(err)
			}
			tool, _ := set.Lookup("echo")
			res, err := tool.Connector.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "a", Args: json.RawMessage(`{"q":"x"}`)})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(res.Structured), tools.Redacted) {
				t.Errorf("the echo was not scrubbed at all: %s", res.Structured)
			}
			if l := leaks(string(res.Structured) + res.Text); len(l) > 0 {
				t.Errorf("the canary reached the result (%v): %s", l, res.Structured)
			}
		})
	}

	t.Run("failed connection", func(t *testing.T) {
		dead := httptest.NewTLSServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		creds := newCreds()
		creds.put("t1", "http:127.0.0.1", "", vault.TypeAPIKey, canary)
		cat := tools.NewCatalog()
		cat.Store = newMemStore()
		cat.Runner = tlsRunner(&netguard.Guard{AllowPrivate: true}, creds, api)
		if _, err := cat.Create(t.Context(), "t1", "key-1", tools.TenantTool{
			Name: "echo", Description: "Echo", InputSchema: json.RawMessage(`{"type":"object"}`),
			Request:    tools.RequestTemplate{Method: "GET", URL: deadURL + "/echo"},
			Credential: &tools.CredentialRef{ToolID: "http:127.0.0.1", In: "query", Param: "key"},
		}); err != nil {
			t.Fatal(err)
		}
		set, _ := cat.Set(t.Context(), "t1")
		tool, _ := set.Lookup("echo")
		_, err := tool.Connector.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "a", Args: json.RawMessage(`{}`)})
		if err == nil {
			t.Fatal("a dead upstream answered")
		}
		if l := leaks(err.Error()); len(l) > 0 {
			t.Errorf("the canary is in the error (%v): %v", l, err)
		}
	})
}

// TestScrubBase64AnyAlignment: whatever surrounds a value, its base64
// encoding (both alphabets) is scrubbed from a result.
func TestScrubBase64AnyAlignment(t *testing.T) {
	creds := newCreds()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		secret := make([]byte, 6+r.IntN(40))
		for j := range secret {
			secret[j] = byte(33 + r.IntN(94))
		}
		pre := make([]byte, r.IntN(9))
		post := make([]byte, r.IntN(9))
		for j := range pre {
			pre[j] = byte(r.IntN(256))
		}
		for j := range post {
			post[j] = byte(r.IntN(256))
		}
		blob := append(append(append([]byte{}, pre...), secret...), post...)
		enc := base64.StdEncoding
		if i%2 == 1 {
			enc = base64.URLEncoding
		}
		encoded := enc.EncodeToString(blob)
		creds.put("t1", "vargate_x", "", vault.TypeAPIKey, string(secret))
		got := tools.ScrubForTest(t.Context(), creds, "vargate_x", encoded)
		for _, piece := range strings.Split(got, tools.Redacted) {
			for k := range 4 {
				if len(piece) <= k {
					break
				}
				p := piece[k:]
				p = strings.TrimRight(p, "=")
				if b, err := enc.WithPadding(base64.NoPadding).DecodeString(p[:len(p)/4*4]); err == nil && strings.Contains(string(b), string(secret)) {
					t.Fatalf("secret %q in %q: not scrubbed (%q)", secret, encoded, got)
				}
			}
		}
		if got == encoded {
			t.Fatalf("secret %q in %q: not scrubbed", secret, encoded)
		}
	}
}

// BenchmarkScrub: the cost of scrubbing a full-size (256 KiB) JSON
// response of one released credential, per call that used one.
func BenchmarkScrub(b *testing.B) {
	body := []byte(strings.Repeat(`{"id":"c-1234","name":"Jane Doe","email":"jane@example.com","notes":"nothing to see here"},`, 256<<10/90))
	values := []string{canary}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = tools.ScrubBytesForTest(values, body)
	}
}

// TestScrubKeepsStructuredJSON: a value that happens to match JSON
// syntax outside strings still leaves valid JSON behind.
func TestScrubKeepsStructuredJSON(t *testing.T) {
	creds := newCreds()
	creds.put("t1", "vargate_x", "", vault.TypeAPIKey, `true,"b":`)
	res := tools.ScrubResultForTest(t.Context(), creds, "vargate_x", json.RawMessage(`{"a":true,"b":1}`))
	if !json.Valid(res) || strings.Contains(string(res), `true,"b":`) {
		t.Errorf("scrubbed structured result = %s", res)
	}
}
