package policy

import (
	"context"
	"io/fs"

	"github.com/open-policy-agent/opa/v1/ast"
)

// InputValue exposes the direct Input → Rego conversion to the tests, which
// check it against the JSON document.
func InputValue(in *Input) (ast.Value, error) { return in.value() }

// BaseTests runs the base policy's own Rego tests (rego/*_test.rego).
func BaseTests(ctx context.Context) ([]TestResult, error) {
	mods, err := baseModules()
	if err != nil {
		return nil, err
	}
	all := map[string]*ast.Module{}
	for k, v := range mods {
		all[k] = v
	}
	files, err := fs.Glob(baseFS, "rego/*_test.rego")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		src, err := baseFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := ast.ParseModuleWithOpts(f, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		all[f] = m
	}
	return runTests(ctx, all)
}
