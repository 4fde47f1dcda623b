package policy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/vargate/vargate"
)

// Defaults for an Engine.
const (
	// DefaultTimeout bounds one evaluation.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultCacheSize is how many compiled versions the engine keeps for
	// replay besides the active ones.
	DefaultCacheSize = 64
)

// Engine evaluates tool calls against each tenant's active policy version,
// or against any version for replay. It is safe for concurrent use.
type Engine struct {
	// Timeout bounds each evaluation; zero means DefaultTimeout. An
	// evaluation that runs out of time is a deny.
	Timeout time.Duration
	// Clock stamps inputs without a time; nil means time.Now.
	Clock vargate.Clock

	store  Store // nil: only versions activated in memory exist
	base   *Version
	active sync.Map   // tenant ID → *atomic.Pointer[Version]
	loadMu sync.Mutex // serialises loading active versions from the store
	cache  *versionCache
}

// NewEngine compiles the base policy and returns an engine that loads
// tenant versions from store (which may be nil in tests and tools: every
// tenant then gets the base policy until a version is activated).
func NewEngine(ctx context.Context, store Store) (*Engine, error) {
	base, err := compileBase(ctx)
	if err != nil {
		return nil, err
	}
	return &Engine{store: store, base: base, cache: newVersionCache(DefaultCacheSize)}, nil
}

// Base returns the base policy version.
func (e *Engine) Base() *Version { return e.base }

// Decide evaluates the call against the tenant's active version. It fills
// in in.Time when zero. The returned Decision is always usable: when no
// decision could be reached (the version could not be loaded, evaluation
// failed or timed out) it is a deny with a policy_error or policy_timeout
// reason, and err says what went wrong, for the log.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	if in.Time.IsZero() {
		in.Time = e.now()
	}
	v, err := e.ActiveVersion(ctx, in.Tenant.ID)
	if err != nil {
		return failClosed(Decision{DecisionID: newDecisionID()}, "policy_error: the tenant's policy could not be loaded"),
			fmt.Errorf("load active policy of tenant %s: %w", in.Tenant.ID, err)
	}
	return e.Evaluate(ctx, v, in)
}

// Replay evaluates a recorded input against one of the tenant's versions
// (BaseLabel for the base policy), as Decide would have. The decision gets
// a new ID.
func (e *Engine) Replay(ctx context.Context, tenantID, label string, in *Input) (Decision, error) {
	v, err := e.Version(ctx, tenantID, label)
	if err != nil {
		return failClosed(Decision{PolicyVersion: label, DecisionID: newDecisionID()}, "policy_error: the policy version could not be loaded"),
			fmt.Errorf("load policy %s of tenant %s: %w", label, tenantID, err)
	}
	return e.Evaluate(ctx, v, in)
}

// Evaluate evaluates the input against a version (nil means the base
// policy). Like Decide, it fails closed: on error the decision is a deny.
func (e *Engine) Evaluate(ctx context.Context, v *Version, in *Input) (Decision, error) {
	if v == nil {
		v = e.base
	}
	d := Decision{PolicyVersion: v.Label, DecisionID: newDecisionID()}
	input, err := in.value()
	if err != nil {
		return failClosed(d, "policy_error: the input could not be read"), fmt.Errorf("policy input: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return failClosed(d, "policy_error: policy evaluation failed"), fmt.Errorf("evaluate policy %s: %w", v.Label, err)
	}
	// Cancel the evaluation when it runs out of time or the caller gives
	// up: a timer sets the flag the evaluation polls, and the poll also
	// looks at the context, without the goroutine per evaluation that
	// OPA would otherwise start or a callback registered on the context.
	timeout := e.timeout()
	c := &canceller{done: ctx.Done()}
	timer := time.AfterFunc(timeout, c.timeout)
	var denySet, approveSet *ast.Term
	results := 0
	err = topdown.NewQuery(v.query).
		WithQueryCompiler(v.queryComp).
		WithCompiler(v.compiler).
		WithStore(v.store).
		WithTransaction(v.txn).
		WithInput(ast.NewTerm(input)).
		WithCancel(c).
		WithVirtualCache(newVirtualCache()).
		WithMetrics(metrics.NoOp()).
		WithStrictBuiltinErrors(true).
		Iter(ctx, func(qr topdown.QueryResult) error {
			results++
			denySet, approveSet = qr[denyVar], qr[approveVar]
			return nil
		})
	timer.Stop()
	if err != nil {
		if c.timedOut.Load() {
			return failClosed(d, fmt.Sprintf("policy_timeout: policy evaluation did not finish within %v", timeout)),
				fmt.Errorf("evaluate policy %s: timed out after %v: %w", v.Label, timeout, err)
		}
		return failClosed(d, "policy_error: policy evaluation failed"), fmt.Errorf("evaluate policy %s: %w", v.Label, err)
	}
	if results != 1 {
		denySet, approveSet = nil, nil
	}
	deny, approve, err := readSets(denySet, approveSet)
	if err != nil {
		return failClosed(d, "policy_error: policy evaluation failed"), fmt.Errorf("evaluate policy %s: %w", v.Label, err)
	}
	switch {
	case len(deny) > 0:
		d.Decision, d.Reasons = Deny, deny
	case len(approve) > 0:
		d.Decision, d.Reasons = RequireApproval, approve
	default:
		d.Decision, d.Reasons = Allow, []string{}
	}
	return d, nil
}

// canceller stops one evaluation (a topdown.Cancel): when its timer
// fires, or when the caller's context is done. It remembers whether it
// was the timer.
type canceller struct {
	done      <-chan struct{} // the caller's context's; nil if it never ends
	cancelled atomic.Bool
	timedOut  atomic.Bool
}

func (c *canceller) Cancel() { c.cancelled.Store(true) }

func (c *canceller) Cancelled() bool {
	if c.cancelled.Load() {
		return true
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *canceller) timeout() {
	c.timedOut.Store(true)
	c.Cancel()
}

var (
	denyKey    = ast.StringTerm("deny")
	approveKey = ast.StringTerm("require_approval")
)

// readResult reads {"deny": set, "require_approval": set} (the base
// policy's result document) into two sorted lists of reasons. Anything
// else is an error; nil means the query had no result, or more than one.
func readResult(t *ast.Term) (deny, approve []string, err error) {
	if t == nil {
		return nil, nil, errors.New("policy produced no result")
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return nil, nil, fmt.Errorf("policy result is %v, not an object", ast.ValueName(t.Value))
	}
	denySet, approveSet := obj.Get(denyKey), obj.Get(approveKey)
	if denySet == nil {
		return nil, nil, fmt.Errorf("policy result has no %v", denyKey)
	}
	if approveSet == nil {
		return nil, nil, fmt.Errorf("policy result has no %v", approveKey)
	}
	return readSets(denySet, approveSet)
}

// readSets reads the deny and require_approval sets into two sorted lists
// of reasons. Anything else is an error; nil means the query had no
// result, or more than one.
func readSets(denySet, approveSet *ast.Term) (deny, approve []string, err error) {
	if denySet == nil || approveSet == nil {
		return nil, nil, errors.New("policy produced no result")
	}
	if deny, err = reasons(denySet, denyKey); err != nil {
		return nil, nil, err
	}
	if approve, err = reasons(approveSet, approveKey); err != nil {
		return nil, nil, err
	}
	return deny, approve, nil
}

func reasons(t *ast.Term, key *ast.Term) ([]string, error) {
	set, ok := t.Value.(ast.Set)
	if !ok {
		return nil, fmt.Errorf("policy result %v is %v, not a set", key, ast.ValueName(t.Value))
	}
	out := make([]string, 0, set.Len())
	set.Foreach(func(r *ast.Term) {
		if s, ok := r.Value.(ast.String); ok {
			out = append(out, string(s))
		} else {
			out = append(out, r.String()) // a tenant rule gave a non-string reason
		}
	})
	slices.Sort(out)
	return out, nil
}

// failClosed turns d into a deny with one reason.
func failClosed(d Decision, reason string) Decision {
	d.Decision = Deny
	d.Reasons = []string{reason}
	return d
}

func newDecisionID() string { return vargate.NewID("dec_", 12) }

func (e *Engine) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return DefaultTimeout
}

func (e *Engine) now() time.Time {
	if e.Clock != nil {
		return e.Clock()
	}
	return time.Now()
}

// Activate makes v the tenant's active version in this engine; nil means
// the base policy. Decisions already running finish with the version they
// started with. Recording the activation in the Store is the caller's job.
func (e *Engine) Activate(tenantID string, v *Version) {
	if v == nil {
		v = e.base
	}
	p, _ := e.active.LoadOrStore(tenantID, new(atomic.Pointer[Version]))
	p.(*atomic.Pointer[Version]).Store(v)
	if v != e.base {
		e.cache.add(tenantID, v)
	}
}

// Forget drops the tenant's active version from memory, so that the next
// decision loads it from the Store again (after another instance changed
// it, say).
func (e *Engine) Forget(tenantID string) { e.active.Delete(tenantID) }

// DefaultRefresh is how often Run reads which versions are active.
const DefaultRefresh = 2 * time.Second

// Refresh makes this engine follow activations made elsewhere (another
// gateway on the same database): every tenant whose active
// version is in memory gets the one the Store names, compiled or taken
// from the cache. A version that does not compile leaves the tenant's
// previous one in force and is reported in the error; the others still
// change.
func (e *Engine) Refresh(ctx context.Context) error {
	if e.store == nil {
		return nil
	}
	// What is in memory is read before the labels: an activation that
	// lands after this read changes the pointer, and the swap below then
	// fails instead of putting back the version the labels still name.
	type held struct {
		tenant string
		ptr    *atomic.Pointer[Version]
		cur    *Version
	}
	var inMemory []held
	e.active.Range(func(k, p any) bool {
		ptr := p.(*atomic.Pointer[Version])
		if cur := ptr.Load(); cur != nil {
			inMemory = append(inMemory, held{k.(string), ptr, cur})
		}
		return true
	})
	labels, err := e.store.ActivePolicyLabels(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range inMemory {
		want, ok := labels[h.tenant]
		if !ok {
			want = BaseLabel
		}
		if h.cur.Label == want {
			continue
		}
		v, err := e.Version(ctx, h.tenant, want)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: policy version %s: %w", h.tenant, want, err))
			continue
		}
		h.ptr.CompareAndSwap(h.cur, v)
	}
	return errors.Join(errs...)
}

// Run calls Refresh every interval (DefaultRefresh when not positive)
// until ctx ends, reporting failures to onErr (which may be nil).
func (e *Engine) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.Refresh(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// ActiveVersion returns the tenant's active version, loading it from the
// Store on first use. A tenant without one gets the base policy.
func (e *Engine) ActiveVersion(ctx context.Context, tenantID string) (*Version, error) {
	if p, ok := e.active.Load(tenantID); ok {
		if v := p.(*atomic.Pointer[Version]).Load(); v != nil {
			return v, nil
		}
	}
	if e.store == nil {
		return e.base, nil
	}
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	p, _ := e.active.LoadOrStore(tenantID, new(atomic.Pointer[Version]))
	ptr := p.(*atomic.Pointer[Version])
	if v := ptr.Load(); v != nil {
		return v, nil // loaded while we waited
	}
	sv, err := e.store.GetActivePolicyVersion(ctx, tenantID)
	var v *Version
	switch {
	case vargate.IsKind(err, vargate.KindNotFound):
		v = e.base
	case err != nil:
		return nil, err
	default:
		if v, err = e.load(ctx, sv); err != nil {
			return nil, err
		}
	}
	// An Activate that ran meanwhile wins over what the store said.
	if !ptr.CompareAndSwap(nil, v) {
		v = ptr.Load()
	}
	return v, nil
}

// Version returns a tenant's version by label from the cache or the Store.
func (e *Engine) Version(ctx context.Context, tenantID, label string) (*Version, error) {
	if label == BaseLabel {
		return e.base, nil
	}
	if v := e.cache.get(tenantID, label); v != nil {
		return v, nil
	}
	if e.store == nil {
		return nil, vargate.NotFound("policy version " + label)
	}
	sv, err := e.store.GetPolicyVersion(ctx, tenantID, label)
	if err != nil {
		return nil, err
	}
	return e.load(ctx, sv)
}

// load compiles a stored version (its tests passed on upload and are not
// run again) and caches it.
func (e *Engine) load(ctx context.Context, sv StoredVersion) (*Version, error) {
	if v := e.cache.get(sv.TenantID, sv.Label); v != nil {
		return v, nil
	}
	v, _, err := compile(ctx, sv.Label, sv.Modules)
	if err != nil {
		return nil, fmt.Errorf("compile stored policy %s: %w", sv.Label, err)
	}
	e.cache.add(sv.TenantID, v)
	return v, nil
}

// versionCache keeps the most recently used compiled versions.
type versionCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // of cacheEntry, most recent first
	byKey map[cacheKey]*list.Element
}

type cacheKey struct{ tenant, label string }

type cacheEntry struct {
	key cacheKey
	v   *Version
}

func newVersionCache(size int) *versionCache {
	return &versionCache{size: size, order: list.New(), byKey: map[cacheKey]*list.Element{}}
}

func (c *versionCache) get(tenant, label string) *Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[cacheKey{tenant, label}]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(cacheEntry).v
}

func (c *versionCache) add(tenant string, v *Version) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{tenant, v.Label}
	if el, ok := c.byKey[k]; ok {
		el.Value = cacheEntry{k, v}
		c.order.MoveToFront(el)
		return
	}
	c.byKey[k] = c.order.PushFront(cacheEntry{k, v})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(cacheEntry).key)
	}
}
