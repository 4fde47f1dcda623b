package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vargate/vargate"
)

// statusCases are the errors both adapters must answer alike: one of
// every kind (wrapped, as handlers return them), a plain error and a kind
// outside the closed set. internal/web tests the same list.
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

// TestErrorStatusIsTheSharedTable: the JSON API answers every error with
// the status of the root package's kind→status table (the dashboard's
// renderError is held to the same table in internal/web), and names the
// kind as the error code.
func TestErrorStatusIsTheSharedTable(t *testing.T) {
	s := &Server{}
	s.Handler() // fills in the logger
	for name, err := range statusCases() {
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
