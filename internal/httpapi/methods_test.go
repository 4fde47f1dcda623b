package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/httpapi"
)

// Every route path answers a method it does not serve with 405 and an
// Allow header listing the methods it does serve, at the root and under
// /api; a path no route serves stays 404.
func TestWrongMethodIs405(t *testing.T) {
	s := &httpapi.Server{}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	byPath := map[string][]string{}
	for _, r := range s.Routes() {
		method, path, _ := strings.Cut(r, " ")
		byPath[path] = append(byPath[path], method)
	}
	for path, methods := range byPath {
		concrete := strings.NewReplacer("{id}", "x1", "{version}", "7", "{name}", "t1").Replace(path)
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods, m) {
				continue
			}
			for _, prefix := range []string{"", "/api"} {
				req, _ := http.NewRequestWithContext(t.Context(), m, srv.URL+prefix+concrete, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body struct {
					Error struct{ Code, Message string }
				}
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusMethodNotAllowed {
					for _, want := range methods {
						if !strings.Contains(resp.Header.Get("Allow"), want) {
							t.Errorf("%s %s%s: Allow %q lacks %s", m, prefix, concrete, resp.Header.Get("Allow"), want)
						}
					}
					if body.Error.Code != "method_not_allowed" {
						t.Errorf("%s %s%s: error body %+v", m, prefix, concrete, body)
					}
					continue
				}
				// Another route with a wildcard may serve this method on the
				// same path (GET /policies/{version} for /policies/rollback).
				if resp.StatusCode == http.StatusNotFound {
					t.Errorf("%s %s%s = 404, want 405 (Allow: %s)", m, prefix, concrete, strings.Join(methods, ", "))
				}
			}
		}
	}
	resp, err := http.Get(srv.URL + "/api/no-such-thing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path = %d, want 404", resp.StatusCode)
	}
}

// Routes mounted next to the API (dashboard, MCP server) get 405 too.
func TestWrongMethodOnMountedRoute(t *testing.T) {
	s := &httpapi.Server{Mount: func(mux *http.ServeMux) {
		mux.HandleFunc("GET /mcp/server/health", func(http.ResponseWriter, *http.Request) {})
	}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/mcp/server/health", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST on a mounted GET route = %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
