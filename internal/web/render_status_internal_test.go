package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/vargate/vargate"
)

// statusCases are the errors both adapters must answer alike: one of
// every kind (wrapped, as handlers return them), a plain error and a kind
// outside the closed set. internal/httpapi tests the same list.
func statusCases() map[string]error {
	cases := map[string]error{
		"plain error":  errors.New("disk full"),
		"unknown kind": &vargate.Error{Kind: "no_such_kind", Message: "odd"},
	}
	for _, k := range vargate.Kinds() {
		cases[string(k)] = fmt.Errorf("handler: %w", vargate.Errorf(k, "a %s failure", k))
	}
	return cases
}

// TestErrorStatusIsTheSharedTable: the dashboard answers every error,
// as a page and as a fragment for the page script, with the status of
// the root package's kind→status table, as the JSON API does.
func TestErrorStatusIsTheSharedTable(t *testing.T) {
	s := &Server{Logger: slog.New(slog.DiscardHandler), pages: mustParsePages(mustStatic())}
	for name, err := range statusCases() {
		for _, fragment := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fragment=%t", name, fragment), func(t *testing.T) {
				w := httptest.NewRecorder()
				s.renderError(w, httptest.NewRequest("GET", "/ui/x", nil), &reqCtx{fragment: fragment}, err)
				if want := vargate.HTTPStatus(err); w.Code != want {
					t.Errorf("status %d, want %d: %s", w.Code, want, w.Body)
				}
				if ct := w.Header().Get("Content-Type"); !fragment && ct != "text/html; charset=utf-8" {
					t.Errorf("the error page is %q, want the rendered HTML page", ct)
				}
			})
		}
	}
}
