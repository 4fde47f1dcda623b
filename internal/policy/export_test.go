package policy

import "github.com/open-policy-agent/opa/v1/ast"

// InputValue exposes the direct Input → Rego conversion to the tests, which
// check it against the JSON document.
func InputValue(in *Input) (ast.Value, error) { return in.value() }
