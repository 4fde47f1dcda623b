package web

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/kindtest"
)

// TestErrorStatusIsTheSharedTable: the dashboard answers every error,
// as a page and as a fragment for the page script, with the status of
// the root package's kind→status table, as the JSON API does.
func TestErrorStatusIsTheSharedTable(t *testing.T) {
	s := &Server{Logger: slog.New(slog.DiscardHandler), pages: mustParsePages(mustStatic())}
	for name, err := range kindtest.StatusCases() {
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
