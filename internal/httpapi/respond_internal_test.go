package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/kindtest"
)

// TestErrorStatusIsTheSharedTable: the JSON API answers every error with
// the status of the root package's kind→status table (the dashboard's
// renderError is held to the same table in internal/web), and names the
// kind as the error code.
func TestErrorStatusIsTheSharedTable(t *testing.T) {
	s := &Server{}
	s.Handler() // fills in the logger
	for name, err := range kindtest.StatusCases() {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest("GET", "/x", nil), err)
			if want := vargate.HTTPStatus(err); w.Code != want {
				t.Errorf("status %d, want %d", w.Code, want)
			}
			var body ErrorBody
			if jerr := json.Unmarshal(w.Body.Bytes(), &body); jerr != nil {
				t.Fatalf("body %q: %v", w.Body, jerr)
			}
			if want := string(vargate.KindOf(err)); body.Error.Code != want {
				t.Errorf("code %q, want %q", body.Error.Code, want)
			}
			if (w.Code == http.StatusUnauthorized) != (w.Header().Get("WWW-Authenticate") != "") {
				t.Errorf("status %d with WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}
