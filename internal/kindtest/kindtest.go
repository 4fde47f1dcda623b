// Package kindtest holds the errors every adapter must answer with the
// root package's kind→status table, so that internal/httpapi and
// internal/web test the same list.
//
// It imports the root package vargate.
package kindtest

import (
	"errors"
	"fmt"

	"github.com/vargate/vargate"
)

// StatusCases returns one error of every kind (wrapped, as handlers
// return them), a plain error and a kind outside the closed set, by name.
func StatusCases() map[string]error {
	cases := map[string]error{
		"plain error":  errors.New("disk full"),
		"unknown kind": &vargate.Error{Kind: "no_such_kind", Message: "odd"},
	}
	for _, k := range vargate.Kinds() {
		cases[string(k)] = fmt.Errorf("handler: %w", vargate.Errorf(k, "a %s failure", k))
	}
	return cases
}
