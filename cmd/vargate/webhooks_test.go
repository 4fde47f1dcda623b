package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestServeWebhooks: through the real gateway, a webhook is configured
// with a generated secret (sealed by the vault: it appears nowhere in the
// data directory), and a test ping arrives signed.
func TestServeWebhooks(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var headers []http.Header
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, headers = append(bodies, b), append(headers, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	strict := startServe(t, nil)
	if code, body := strict.do(t, "POST", "/api/dashboard/settings", strict.Key, `{"webhook_url":"`+recv.URL+`"}`); code != http.StatusUnprocessableEntity {
		t.Errorf("loopback webhook without VARGATE_WEBHOOK_ALLOW_PRIVATE = %d %v", code, body)
	}

	dataDir := t.TempDir()
	g := startServe(t, map[string]string{"VARGATE_WEBHOOK_ALLOW_PRIVATE": "true", "VARGATE_DATA_DIR": dataDir})
	code, set := g.do(t, "POST", "/api/dashboard/settings", g.Key, `{"webhook_url":"`+recv.URL+`/vargate"}`)
	secret, _ := set["webhook_secret"].(string)
	if code != http.StatusOK || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("settings = %d %v\n%s", code, set, g.Stderr)
	}
	code, ping := g.do(t, "POST", "/api/webhooks/test", g.Key, "")
	if code != http.StatusOK || ping["status"] != "delivered" {
		t.Fatalf("test ping = %d %v", code, ping)
	}
	mu.Lock()
	defer mu.Unlock()
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 {
		t.Fatalf("receiver got %d requests", len(bodies))
	}
	if err := lib.Verify(bodies[0], headers[0]); err != nil {
		t.Errorf("signature: %v", err)
	}
	if code, again := g.do(t, "GET", "/api/dashboard/settings", g.Key, ""); code != http.StatusOK || again["webhook_secret"] != nil {
		t.Errorf("settings read back = %d %v", code, again)
	}

	// The secret is stored sealed: no file of the data directory holds it.
	key := strings.TrimPrefix(secret, "whsec_")
	files := 0
	err = filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if strings.Contains(string(b), key) {
			t.Errorf("%s holds the webhook secret in clear", path)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %d files, %v", dataDir, files, err)
	}
}
