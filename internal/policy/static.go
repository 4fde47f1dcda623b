package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// staticUnknowns are the parts of the input that differ from call to call
// of one tool by one agent: what holds whatever they are holds for every
// call.
var staticUnknowns = []string{
	"input.call.arguments", "input.call.arguments_digest", "input.pii", "input.session", "input.time",
}

// maxStatic bounds a version's cache of AlwaysDenied answers.
const maxStatic = 10000

// staticCache remembers AlwaysDenied per agent and tool for one version.
type staticCache struct {
	mu sync.Mutex
	m  map[string]bool
}

// AlwaysDenied reports whether the tenant's active policy denies every
// call of in.Call.Tool by in.Agent, whatever the call's arguments, the
// personal data in them and the session's facts: the deny set, partially
// evaluated with those unknown, has a member with no condition left (a
// tool outside allowed_tools, say, or one a tenant rule denies by its name
// or upstream). It answers false when it cannot tell, so that a tool is
// hidden from tools/list only when no call of it could be allowed; every
// call is still decided by Decide.
func (e *Engine) AlwaysDenied(ctx context.Context, in *Input) (bool, error) {
	v, err := e.ActiveVersion(ctx, in.Tenant.ID)
	if err != nil {
		return false, err
	}
	return v.alwaysDenied(ctx, e, in)
}

func (v *Version) alwaysDenied(ctx context.Context, e *Engine, in *Input) (bool, error) {
	if v.compiler == nil {
		return false, nil
	}
	// Only the known parts: the unknown ones are left out of the input.
	probe := Input{Tenant: in.Tenant, Agent: in.Agent, Call: Call{Tool: in.Call.Tool, Upstream: in.Call.Upstream, Annotations: in.Call.Annotations}}
	keyDoc, err := json.Marshal(probe)
	if err != nil {
		return false, fmt.Errorf("static policy input: %w", err)
	}
	key := string(keyDoc)
	v.static.mu.Lock()
	denied, ok := v.static.m[key]
	v.static.mu.Unlock()
	if ok {
		return denied, nil
	}
	var doc any
	if err := json.Unmarshal(keyDoc, &doc); err != nil {
		return false, fmt.Errorf("static policy input: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	pq, err := rego.New(
		rego.Query("data.vargate.base.deny[_]"),
		rego.Compiler(v.compiler),
		rego.Store(inmem.New()),
		rego.Input(doc),
		rego.Unknowns(staticUnknowns),
		rego.StrictBuiltinErrors(true),
	).Partial(ctx)
	if err != nil {
		return false, fmt.Errorf("partial evaluation of policy %s: %w", v.Label, err)
	}
	denied = false
	for _, q := range pq.Queries {
		if unconditional(q) {
			denied = true
			break
		}
	}
	v.static.mu.Lock()
	if v.static.m == nil || len(v.static.m) >= maxStatic {
		v.static.m = map[string]bool{}
	}
	v.static.m[key] = denied
	v.static.mu.Unlock()
	return denied, nil
}

// unconditional reports whether a partially evaluated query holds
// whatever the unknowns are: it reads nothing of the input or of data
// (what is left are bindings of the reason to a constant).
func unconditional(q ast.Body) bool {
	reads := false
	ast.WalkRefs(q, func(r ast.Ref) bool {
		if h, ok := r[0].Value.(ast.Var); ok && (h.Equal(ast.InputRootDocument.Value) || h.Equal(ast.DefaultRootDocument.Value)) {
			reads = true
		}
		return reads
	})
	return !reads
}
