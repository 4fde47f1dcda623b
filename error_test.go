package vargate_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"testing"

	"github.com/vargate/vargate"
)

// wantStatus is the HTTP status of every error kind, as the API
// reference documents them.
var wantStatus = map[vargate.Kind]int{
	vargate.KindInvalid:      http.StatusUnprocessableEntity,
	vargate.KindNotFound:     http.StatusNotFound,
	vargate.KindConflict:     http.StatusConflict,
	vargate.KindUnauthorized: http.StatusUnauthorized,
	vargate.KindForbidden:    http.StatusForbidden,
	vargate.KindRateLimited:  http.StatusTooManyRequests,
	vargate.KindUnavailable:  http.StatusServiceUnavailable,
	vargate.KindUpstream:     http.StatusBadGateway,
	vargate.KindInternal:     http.StatusInternalServerError,
}

// declaredKinds returns the names of the Kind constants declared in
// error.go, so a kind added there without a status fails the test below.
func declaredKinds(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Kind" {
				for _, n := range vs.Names {
					names = append(names, n.Name)
				}
			}
		}
	}
	return names
}

// TestEveryKindHasAStatus: each declared kind has its own entry in the
// kind→status table (only KindInternal answers 500), and an error
// answers the status of its kind however deeply it is wrapped.
func TestEveryKindHasAStatus(t *testing.T) {
	declared := declaredKinds(t)
	if len(declared) != len(vargate.Kinds()) || len(declared) != len(wantStatus) {
		t.Errorf("error.go declares %d kinds %v; Kinds() lists %d and the test %d: list the new kind and give it a status",
			len(declared), declared, len(vargate.Kinds()), len(wantStatus))
	}
	for _, kind := range vargate.Kinds() {
		want, ok := wantStatus[kind]
		if !ok {
			t.Errorf("the test has no status for %s", kind)
		}
		t.Run(string(kind), func(t *testing.T) {
			if got := kind.HTTPStatus(); got != want {
				t.Errorf("%s.HTTPStatus() = %d, want %d", kind, got, want)
			}
			if kind != vargate.KindInternal && kind.HTTPStatus() == http.StatusInternalServerError {
				t.Errorf("%s has no status of its own", kind)
			}
			err := fmt.Errorf("outer: %w", vargate.Errorf(kind, "inner"))
			if got := vargate.HTTPStatus(err); got != want {
				t.Errorf("HTTPStatus(wrapped %s) = %d, want %d", kind, got, want)
			}
		})
	}
	statuses := map[int]vargate.Kind{}
	for kind, status := range wantStatus {
		if other, dup := statuses[status]; dup {
			t.Errorf("%s and %s share status %d", kind, other, status)
		}
		statuses[status] = kind
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"plain error", errors.New("disk full")},
		{"unknown kind", &vargate.Error{Kind: "no_such_kind", Message: "x"}},
		{"nil", nil},
	} {
		if got := vargate.HTTPStatus(c.err); got != http.StatusInternalServerError {
			t.Errorf("HTTPStatus(%s) = %d, want 500", c.name, got)
		}
	}
	if !slices.Contains(declared, "KindInternal") {
		t.Errorf("declared kinds %v lack KindInternal", declared)
	}
}
