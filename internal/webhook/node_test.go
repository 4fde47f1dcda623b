package webhook_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/webhook"
)

// nodeReceiver starts testdata/node/receiver.js, which verifies every
// request with the npm standardwebhooks package, and returns its URL and
// a function returning the lines it printed so far. npm installs the
// locked dependencies first if node_modules is missing.
func nodeReceiver(t *testing.T, secret string) (string, func() []string) {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if nodeErr != nil || npmErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node and npm are required for the standardwebhooks end-to-end test")
		}
		t.Skip("node or npm not installed")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	cmd := exec.CommandContext(t.Context(), node, "receiver.js", secret)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var mu sync.Mutex
	var lines []string
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if port, ok := strings.CutPrefix(line, "LISTENING "); ok {
				ready <- port
				continue
			}
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
		}
	}()
	select {
	case port := <-ready:
		return "http://127.0.0.1:" + port + "/webhooks/vargate", func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), lines...)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node receiver did not start")
	}
	return "", nil
}

// TestStandardWebhooksNode: every event and a test ping, signed by the
// gateway, verify with the npm standardwebhooks package (an independent
// implementation), and a forged request does not.
func TestStandardWebhooksNode(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, storetest.Open(t, sqlstore.SQLite))
	secret := webhook.NewSecret()
	url, lines := nodeReceiver(t, secret)
	s := e.service(t)
	if _, _, err := s.UpdateSettings(ctx, e.ten, "key-admin", webhook.Update{URL: &url, Secret: &secret}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range webhook.Events() {
		data := map[string]any{"event": ev, "text": "ünïcode ✓ <&> \"quoted\"", "n": 1.5}
		if err := s.Emit(ctx, e.ten, ev, data); err != nil {
			t.Fatal(err)
		}
	}
	ping, err := s.Test(ctx, e.ten)
	if err != nil {
		t.Fatal(err)
	}
	if ping.Status != webhook.StatusDelivered {
		t.Errorf("ping: %+v", ping)
	}
	want := len(webhook.Events()) + 1
	testwait.For(t, 20*time.Second, "all deliveries", func() bool {
		ms, _ := s.Deliveries(ctx, e.ten, webhook.MessageFilter{Status: webhook.StatusDelivered})
		return len(ms) == want
	})
	ms, _ := s.Deliveries(ctx, e.ten, webhook.MessageFilter{})
	ok := map[string]string{}
	for _, l := range lines() {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "OK" {
			ok[f[1]] = f[2]
		} else {
			t.Errorf("receiver: %s", l)
		}
	}
	for _, m := range ms {
		if ok[m.ID] != m.Event {
			t.Errorf("%s (%s): receiver verified %q", m.ID, m.Event, ok[m.ID])
		}
	}

	// A forged request is rejected by the receiver.
	body := []byte(`{"type":"action.approved","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	key, _ := webhook.ParseSecret(webhook.NewSecret())
	now := time.Now()
	req.Header.Set(webhook.HeaderID, "msg_forged")
	req.Header.Set(webhook.HeaderTimestamp, fmtUnix(now))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(key, "msg_forged", now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged request answered %d, want 400", resp.StatusCode)
	}
}

func fmtUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
