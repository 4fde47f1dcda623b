package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/testwait"
)

// syncBuffer is a bytes.Buffer safe for a server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a `vargate serve` running in this process on a free port.
type gateway struct {
	URL    string
	Key    string // the bootstrap admin key
	Stderr *syncBuffer
	// Env is the environment serve runs with (the CLI, run with it,
	// works on the same data directory and database).
	Env    map[string]string
	cancel context.CancelFunc
	done   chan error
}

// startServe runs `vargate serve` with a fresh data directory and extra
// environment, waits until it listens, and stops it at cleanup.
func startServe(t *testing.T, extraEnv map[string]string, args ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	envVars := map[string]string{"VARGATE_DATA_DIR": filepath.Join(dir, "data"), "VARGATE_LISTEN": "127.0.0.1:0", "VARGATE_LOG_FORMAT": "json"}
	for k, v := range extraEnv {
		envVars[k] = v
	}
	stderr := &syncBuffer{}
	env := &environment{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(k string) string { return envVars[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gateway{Stderr: stderr, Env: envVars, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- run(ctx, env, append([]string{"serve", "--ready-file", ready}, args...)) }()
	testwait.For(t, 30*time.Second, "serve to start", func() bool {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			g.URL = "http://" + string(b)
			return true
		}
		select {
		case err := <-g.done:
			t.Fatalf("serve exited early: %v\n%s", err, stderr)
		default:
		}
		return false
	})
	if i := strings.Index(stderr.String(), "vgk_"); i >= 0 {
		g.Key = strings.Fields(stderr.String()[i:])[0]
	}
	t.Cleanup(func() { g.Stop(t) })
	return g
}

// Stop cancels the server as SIGTERM would and waits for a clean exit.
func (g *gateway) Stop(t *testing.T) {
	t.Helper()
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Error("serve did not shut down")
	}
}

func (g *gateway) do(t *testing.T, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func TestServeBootstrapHealthAndShutdown(t *testing.T) {
	g := startServe(t, map[string]string{"VARGATE_METRICS_TOKEN": "operator-metrics-token"})
	if !strings.HasPrefix(g.Key, "vgk_") {
		t.Fatalf("first start printed no admin key:\n%s", g.Stderr)
	}
	for _, path := range []string{"/health", "/api/health"} {
		code, body := g.do(t, "GET", path, "", "")
		if code != 200 || body["status"] != "ok" || body["database"] != "ok" {
			t.Errorf("GET %s = %d %v", path, code, body)
		}
	}
	code, body := g.do(t, "GET", "/api/tenant", g.Key, "")
	if code != 200 || body["name"] != "default" {
		t.Errorf("GET /api/tenant with bootstrap key = %d %v", code, body)
	}
	if code, _ := g.do(t, "GET", "/api/tenant", "", ""); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
	// Metrics: a tenant's admin key sees its own request counts only;
	// the operator's token sees everything, the event consumer's counters
	// too.
	mreq, _ := http.NewRequest("GET", g.URL+"/metrics", nil)
	mreq.Header.Set("X-API-Key", g.Key)
	if resp, err := http.DefaultClient.Do(mreq); err != nil {
		t.Error(err)
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(raw), "vargate_tenant_http_requests_total{") || strings.Contains(string(raw), "vargate_observe_") ||
			strings.Contains(string(raw), "go_goroutines") || strings.Contains(string(raw), "vargate_http_requests_total") {
			t.Errorf("/metrics with a tenant key (%d):\n%s", resp.StatusCode, raw)
		}
	}
	mreq, _ = http.NewRequest("GET", g.URL+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer operator-metrics-token")
	if resp, err := http.DefaultClient.Do(mreq); err != nil {
		t.Error(err)
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, name := range []string{"vargate_observe_events_total", "vargate_observe_connections_total", "vargate_observe_tool_calls_total",
			"vargate_observe_poison_events_total", "vargate_observe_event_latency_seconds_count"} {
			if resp.StatusCode != 200 || !strings.Contains(string(raw), "\n"+name+" ") {
				t.Errorf("/metrics (%d) lacks %s", resp.StatusCode, name)
			}
		}
	}
	if strings.Count(g.Stderr.String(), g.Key) != 2 {
		t.Errorf("the bootstrap key should appear only in the one-time banner")
	}

	// A request in flight when shutdown starts is finished, not cut: its
	// body is still arriving when the server is told to stop. The request
	// expects 100-continue, so the client sends the body only once the
	// handler reads it: the first write returning means the server is
	// reading the body.
	first, rest := `{"role":"aud`, `itor"}`
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", g.URL+"/api/keys", pr)
	req.ContentLength = int64(len(first + rest))
	req.Header.Set("X-API-Key", g.Key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	type result struct {
		code int
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			inflight <- result{0, err}
			return
		}
		resp.Body.Close()
		inflight <- result{resp.StatusCode, nil}
	}()
	if _, err := pw.Write([]byte(first)); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { g.Stop(t); close(stopped) }()
	// Shutdown closes the listener first: once a new connection is
	// refused, the server is shutting down with the request in flight.
	addr := strings.TrimPrefix(g.URL, "http://")
	testwait.For(t, 30*time.Second, "the server to stop accepting connections", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if _, err := pw.Write([]byte(rest)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-inflight; r.err != nil || r.code != 201 {
		t.Errorf("request in flight during shutdown: %d %v, want 201", r.code, r.err)
	}
	<-stopped
	if _, err := http.Get(g.URL + "/health"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestServeRejectsInvalidConfig(t *testing.T) {
	env := &environment{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		return map[string]string{"SSE_TIMEOUT": "soon", "VARGATE_LISTEN": "nowhere"}[k]
	}}
	err := run(t.Context(), env, []string{"serve"})
	if err == nil {
		t.Fatal("serve started with invalid settings")
	}
	for _, name := range []string{"SSE_TIMEOUT", "VARGATE_LISTEN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
