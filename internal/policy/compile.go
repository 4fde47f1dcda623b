package policy

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/vargate/vargate"
)

// BaseLabel is the version label of the base policy on its own, which
// applies to a tenant that has not activated a version of its own.
const BaseLabel = "base"

// Limits on an uploaded version.
const (
	MaxModules     = 64
	MaxModuleBytes = 256 << 10
	MaxTotalBytes  = 1 << 20
	maxLabelLen    = 64
	testTimeout    = 5 * time.Second
)

// The gateway evaluates the base policy's two sets, the parts of its
// result document, each bound to a variable of the compiled query. (The
// query skips the result rule: the object it builds cost allocations
// and the decision reads the sets anyway.)
var (
	denyRef    = ast.MustParseRef("data.vargate.base.deny")
	approveRef = ast.MustParseRef("data.vargate.base.require_approval")
	denyVar    = ast.Var("deny")
	approveVar = ast.Var("require_approval")
)

//go:embed rego/*.rego
var baseFS embed.FS

var (
	tenantRoot   = ast.MustParseRef("data.vargate.tenant")
	ruleNames    = []string{"deny", "require_approval"}
	labelRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-]*$`)
	moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_\-][A-Za-z0-9._\-/]*\.rego$`)
)

// Version is one compiled policy version: the base policy plus a tenant's
// modules, with its query prepared for evaluation. It is safe for
// concurrent use; apart from setting Label once, before the version is
// used, it never changes.
type Version struct {
	// Label identifies the version within its tenant ("v3", "v3.2"), or
	// is BaseLabel.
	Label string
	// Modules are the tenant's sources by file name, as uploaded; nil for
	// the base policy.
	Modules map[string]string

	// query binds denyVar and approveVar to the two sets; evaluations run
	// it with topdown directly, which costs less per call than the rego
	// package's prepared query (its result set, metrics and options).
	query     ast.Body
	queryComp ast.QueryCompiler
	store     storage.Store
	txn       storage.Transaction // a read transaction on the version's empty store, shared by evaluations
	compiler  *ast.Compiler       // for evaluation and partial evaluation (AlwaysDenied)
	static    staticCache
}

// TestResult is the outcome of one test_ rule.
type TestResult struct {
	// Name is the rule's full name, e.g. "data.vargate.tenant.test_allow".
	Name string `json:"name"`
	// Location is "file.rego:12".
	Location string `json:"location"`
	Pass     bool   `json:"pass"`
	// Skipped is set for todo_test_ rules, which are not run.
	Skipped bool `json:"skipped,omitempty"`
	// Message says why a test that did not pass failed or errored.
	Message string `json:"message,omitempty"`
	// Output is what the test printed with print().
	Output   string        `json:"output,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// capabilities are the Rego built-ins a policy may use: all of this OPA
// version's except the non-deterministic ones (http.send, time.now_ns,
// rand.intn, net.lookup_ip_addr, …). A decision must depend on its input
// alone, so that replay gives the same answer, and a policy must not reach
// the network.
var capabilities = sync.OnceValue(func() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool { return b.Nondeterministic })
	c.AllowNet = []string{}
	return c
})

// baseModules parses the embedded base policy once. The compiler copies
// modules before changing them, so the parsed modules are shared.
var baseModules = sync.OnceValues(func() (map[string]*ast.Module, error) {
	mods := map[string]*ast.Module{}
	err := fs.WalkDir(baseFS, "rego", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := baseFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := "@vargate/" + path.Base(p)
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		mods[name] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse base policy: %w", err)
	}
	return mods, nil
})

// BaseSources returns the base policy's Rego sources by file name
// (tests excluded), for running the same policy elsewhere: the OPA
// sidecar that `vargate bench` compares the embedded engine with.
func BaseSources() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(baseFS, "rego", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := baseFS.ReadFile(p)
		out[path.Base(p)] = string(src)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read base policy: %w", err)
	}
	return out, nil
}

// Compile validates a tenant's policy version and prepares it for
// evaluation. It rejects, with an error of kind invalid that carries the
// compiler's or the tests' message: modules that do not parse or compile,
// modules outside package vargate.tenant (or below it), deny or
// require_approval rules that are not partial sets, and versions whose
// test_ rules do not all pass. The label may be empty when the store is to
// assign one; the caller then sets Version.Label.
func Compile(ctx context.Context, label string, modules map[string]string) (*Version, error) {
	v, _, err := CompileTested(ctx, label, modules)
	return v, err
}

// CompileTested is Compile that also returns the results of the version's
// test_ rules (none when it has no tests), so that an upload can show
// them. When a test fails, the results come back with the error.
func CompileTested(ctx context.Context, label string, modules map[string]string) (*Version, []TestResult, error) {
	v, parsed, err := compile(ctx, label, modules)
	if err != nil {
		return nil, nil, err
	}
	if !hasTests(parsed) {
		return v, []TestResult{}, nil
	}
	results, err := runTests(ctx, parsed)
	if err != nil {
		return nil, nil, err
	}
	var failed []string
	for _, r := range results {
		if !r.Pass && !r.Skipped {
			failed = append(failed, fmt.Sprintf("%s: %s: %s", r.Location, r.Name, r.Message))
		}
	}
	if len(failed) > 0 {
		return nil, results, vargate.Invalid("modules", "%d of %d tests failed:\n%s", len(failed), len(results), strings.Join(failed, "\n"))
	}
	return v, results, nil
}

// Test runs the test_ rules of a tenant's modules, compiled together with
// the base policy, and returns one result per test. The error reports
// modules that Compile would reject before running tests.
func Test(ctx context.Context, modules map[string]string) ([]TestResult, error) {
	_, parsed, err := compile(ctx, "test", modules)
	if err != nil {
		return nil, err
	}
	return runTests(ctx, parsed)
}

// compileBase prepares the base policy on its own.
func compileBase(ctx context.Context) (*Version, error) {
	v, _, err := compile(ctx, BaseLabel, nil)
	if err != nil {
		return nil, fmt.Errorf("compile base policy: %w", err)
	}
	return v, nil
}

// compile checks and prepares a version without running its tests. It
// returns every module of the version: base, generated and tenant.
func compile(ctx context.Context, label string, modules map[string]string) (*Version, map[string]*ast.Module, error) {
	base, err := baseModules()
	if err != nil {
		return nil, nil, err
	}
	return compileWith(ctx, base, label, modules)
}

// compileWith is compile with the given base modules (tests compare the
// base policy with earlier versions of it).
func compileWith(ctx context.Context, base map[string]*ast.Module, label string, modules map[string]string) (*Version, map[string]*ast.Module, error) {
	if label != "" && label != BaseLabel && (len(label) > maxLabelLen || !labelRE.MatchString(label)) {
		return nil, nil, vargate.Invalid("label", "label must be 1 to %d letters, digits, dots, dashes or underscores", maxLabelLen)
	}
	if label == BaseLabel && modules != nil {
		return nil, nil, vargate.Invalid("label", "label %q is reserved for the base policy", BaseLabel)
	}
	tenant, err := parseTenant(modules)
	if err != nil {
		return nil, nil, err
	}
	all := make(map[string]*ast.Module, len(base)+len(tenant)+1)
	for name, m := range base {
		all[name] = m
	}
	for name, m := range tenant {
		all[name] = m
	}
	collect, err := collectModule(tenant)
	if err != nil {
		return nil, nil, err
	}
	all["@vargate/collect.rego"] = collect

	c := ast.NewCompiler().WithCapabilities(capabilities()).WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(all); c.Failed() {
		return nil, nil, vargate.Invalid("modules", "%v", c.Errors)
	}
	store := inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false))
	qc := c.QueryCompiler()
	q, err := qc.Compile(ast.NewBody(
		ast.Equality.Expr(ast.NewTerm(denyVar), ast.NewTerm(denyRef)),
		ast.Equality.Expr(ast.NewTerm(approveVar), ast.NewTerm(approveRef)),
	))
	if err != nil {
		return nil, nil, vargate.Invalid("modules", "%v", err)
	}
	// The store is never written, so one read transaction serves every
	// evaluation and saves opening one per call.
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("open policy store: %w", err)
	}
	var mods map[string]string
	if modules != nil {
		mods = make(map[string]string, len(modules))
		for k, v := range modules {
			mods[k] = v
		}
	}
	return &Version{Label: label, Modules: mods, query: q, queryComp: qc, store: store, txn: txn, compiler: c}, all, nil
}

// parseTenant parses and checks a tenant's modules.
func parseTenant(modules map[string]string) (map[string]*ast.Module, error) {
	if len(modules) > MaxModules {
		return nil, vargate.Invalid("modules", "a version has at most %d modules, got %d", MaxModules, len(modules))
	}
	total := 0
	names := make([]string, 0, len(modules))
	for name, src := range modules {
		if !moduleNameRE.MatchString(name) || strings.Contains(name, "..") {
			return nil, vargate.Invalid("modules", "module name %q must be a relative path ending in .rego", name)
		}
		if len(src) > MaxModuleBytes {
			return nil, vargate.Invalid("modules", "%s: module is larger than %d bytes", name, MaxModuleBytes)
		}
		total += len(src)
		names = append(names, name)
	}
	if total > MaxTotalBytes {
		return nil, vargate.Invalid("modules", "modules total more than %d bytes", MaxTotalBytes)
	}
	slices.Sort(names)
	out := make(map[string]*ast.Module, len(modules))
	for _, name := range names {
		m, err := ast.ParseModuleWithOpts(name, modules[name], ast.ParserOptions{
			RegoVersion:  ast.RegoV1,
			Capabilities: capabilities(),
		})
		if err != nil {
			return nil, vargate.Invalid("modules", "%v", err)
		}
		if !m.Package.Path.HasPrefix(tenantRoot) {
			return nil, vargate.Invalid("modules", "%s: package %s is not allowed: tenant modules must be in package vargate.tenant or below it",
				name, strings.TrimPrefix(m.Package.Path.String(), "data."))
		}
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			head, ok := ref[0].Value.(ast.Var)
			if !ok || !slices.Contains(ruleNames, string(head)) {
				continue
			}
			if len(ref) != 1 || r.Head.RuleKind() != ast.MultiValue || len(r.Head.Args) > 0 {
				return nil, vargate.Invalid("modules", "%s:%d: %s must be a set of reason strings (`%s contains reason if { … }`)",
					name, r.Location.Row, head, head)
			}
		}
		out[name] = m
	}
	return out, nil
}

// collectModule generates the module that adds the deny and
// require_approval rules of every tenant package to the base policy's. It
// is in package vargate.base, which tenants cannot use; for the base policy
// alone it has no rules, so evaluation pays nothing for tenant support.
func collectModule(tenant map[string]*ast.Module) (*ast.Module, error) {
	var b strings.Builder
	b.WriteString("package vargate.base\n\n")
	seen := map[string]bool{}
	names := make([]string, 0, len(tenant))
	for name := range tenant {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m := tenant[name]
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 || !slices.Contains(ruleNames, ref[0].String()) {
				continue
			}
			full := m.Package.Path.Append(ast.StringTerm(ref[0].String())).String()
			if seen[full] {
				continue
			}
			seen[full] = true
			fmt.Fprintf(&b, "%s contains r if some r in %s\n", ref[0], full)
		}
	}
	m, err := ast.ParseModuleWithOpts("@vargate/collect.rego", b.String(), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("generate collect module: %w", err)
	}
	return m, nil
}

func hasTests(modules map[string]*ast.Module) bool {
	for _, m := range modules {
		for _, r := range m.Rules {
			if strings.HasPrefix(r.Head.Ref()[0].String(), tester.TestPrefix) {
				return true
			}
		}
	}
	return false
}

// runTests runs every test_ rule in modules with OPA's tester.
func runTests(ctx context.Context, modules map[string]*ast.Module) ([]TestResult, error) {
	c := ast.NewCompiler().
		WithCapabilities(capabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().
		SetCompiler(c).
		SetModules(modules).
		SetTimeout(testTimeout).
		RaiseBuiltinErrors(true).
		SetCoverageRuns(nil).
		RunTests(ctx, nil)
	if err != nil {
		return nil, vargate.Invalid("modules", "%v", err)
	}
	var raw []*tester.Result
	for r := range ch {
		raw = append(raw, r)
	}
	slices.SortFunc(raw, func(a, b *tester.Result) int {
		if a.Location != nil && b.Location != nil {
			if c := strings.Compare(a.Location.File, b.Location.File); c != 0 {
				return c
			}
			if c := a.Location.Row - b.Location.Row; c != 0 {
				return c
			}
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := make([]TestResult, 0, len(raw))
	for _, r := range raw {
		tr := TestResult{
			Name:     r.Package + "." + r.Name,
			Pass:     r.Pass(),
			Skipped:  r.Skip,
			Output:   string(r.Output),
			Duration: r.Duration,
		}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		switch {
		case r.Error != nil:
			tr.Message = "error: " + r.Error.Error()
		case r.Fail:
			tr.Message = "failed"
		}
		out = append(out, tr)
	}
	return out, nil
}
