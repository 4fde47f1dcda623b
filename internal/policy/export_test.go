package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
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

// NewVirtualCache exposes the engine's per-evaluation rule cache to the
// tests, which compare it with OPA's.
func NewVirtualCache() topdown.VirtualCache { return newVirtualCache() }

// Reference decides calls the way the engine did before it evaluated with
// topdown directly and built the input itself: the input is the Input's
// JSON document as a Go map, converted by OPA (ast.InterfaceToValue), and
// the query is the rego package's prepared query. The differential tests
// require the engine to decide exactly as it does.
type Reference struct {
	q rego.PreparedEvalQuery
}

// NewReference compiles a version (nil modules: the base policy) for the
// reference path.
func NewReference(ctx context.Context, modules map[string]string) (*Reference, error) {
	label := "reference"
	if modules == nil {
		label = BaseLabel
	}
	v, _, err := compile(ctx, label, modules)
	if err != nil {
		return nil, err
	}
	q, err := rego.New(
		rego.Query("data.vargate.base.result"),
		rego.Compiler(v.compiler),
		rego.Store(inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false))),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &Reference{q: q}, nil
}

// Evaluate decides in by the reference path. The decision has no ID or
// version; an error means no decision was reached (the engine's deny).
func (r *Reference) Evaluate(ctx context.Context, in *Input) (decision string, reasons []string, err error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return "", nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return "", nil, err
	}
	rs, err := r.q.Eval(ctx, rego.EvalInput(doc), rego.EvalGenerateJSON(
		func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }))
	if err != nil {
		return "", nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return "", nil, errors.New("policy produced no result")
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return "", nil, fmt.Errorf("policy result is %T", rs[0].Expressions[0].Value)
	}
	deny, approve, err := readResult(t)
	switch {
	case err != nil:
		return "", nil, err
	case len(deny) > 0:
		return Deny, deny, nil
	case len(approve) > 0:
		return RequireApproval, approve, nil
	}
	return Allow, []string{}, nil
}
