package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkObserve measures what the observe middleware adds to every
// request (the MCP endpoint's calls included): a request through it to a
// handler that names its tenant and writes a small answer.
func BenchmarkObserve(b *testing.B) {
	s := &Server{Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	h := s.Handler() // sets up the metrics
	_ = h
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mcp/server", func(w http.ResponseWriter, r *http.Request) {
		w.(interface{ SetTenant(string) }).SetTenant("t1")
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message\ndata: {}\n\n")
	})
	obs := s.observe(mux)
	req := httptest.NewRequest("POST", "/mcp/server", strings.NewReader("{}"))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		obs.ServeHTTP(w, req)
	}
}
