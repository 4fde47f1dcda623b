package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
)

// chargeInput is a call to vargate_create_charge that the base policy allows.
func chargeInput(t testing.TB, tenant string, amount any) *policy.Input {
	t.Helper()
	args, err := json.Marshal(map[string]any{"amount": amount, "currency": "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	call, findings, err := policy.NewCall("vargate_create_charge", args)
	if err != nil {
		t.Fatal(err)
	}
	return &policy.Input{
		Tenant: policy.Tenant{ID: tenant},
		Agent: policy.Agent{
			ID:                "agent-1",
			AllowedTools:      []string{"vargate_create_charge", "vargate_send_email"},
			GovernanceProfile: policy.GovernanceProfile{RiskLevel: "standard", PIIDetection: true},
		},
		Session: policy.Session{ID: "vs-1"},
		Call:    call,
		PII:     findings,
		Time:    time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC),
	}
}

func mustCompile(t testing.TB, label, src string) *policy.Version {
	t.Helper()
	v, err := policy.Compile(context.Background(), label, map[string]string{"p.rego": src})
	if err != nil {
		t.Fatalf("Compile %s: %v", label, err)
	}
	return v
}

const (
	approveOver5000 = "package vargate.tenant\n\nrequire_approval contains \"over_5000\" if input.call.arguments.amount > 5000\n"
	denyOver1000    = "package vargate.tenant\n\ndeny contains \"over_1000\" if input.call.arguments.amount > 1000\n"
)

// newEngine returns an engine whose timeout no loaded test machine
// reaches, so that only the tests about timeouts ever see one.
func newEngine(t testing.TB, store policy.Store) *policy.Engine {
	t.Helper()
	e, err := policy.NewEngine(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	e.Timeout = time.Minute
	return e
}

// outcome is a decision reduced to what these tests compare.
func outcome(d policy.Decision) string {
	return fmt.Sprintf("%s %s %s", d.PolicyVersion, d.Decision, strings.Join(d.Reasons, "; "))
}

func TestFailClosed(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		amount  any
		timeout time.Duration
		want    string // the one reason
	}{
		{
			name: "conflicting outputs",
			src: "package vargate.tenant\n\nlevel := \"a\" if input.call.tool\nlevel := \"b\" if input.call.tool\n\n" +
				"deny contains \"never\" if level == \"c\"\n",
			amount: 1,
			want:   "policy_error: policy evaluation failed",
		},
		{
			// Without strict built-in errors this rule would be
			// undefined, and the call allowed.
			name:   "built-in error",
			src:    "package vargate.tenant\n\ndeny contains \"big\" if to_number(input.call.arguments.amount) > 10\n",
			amount: "ten",
			want:   "policy_error: policy evaluation failed",
		},
		{
			name: "spins until the timeout",
			src: "package vargate.tenant\n\ndeny contains \"never\" if {\n\tsome i in numbers.range(1, 100000)\n" +
				"\tsome j in numbers.range(1, 100000)\n\ti * j < 0\n}\n",
			amount:  1,
			timeout: 20 * time.Millisecond,
			want:    "policy_timeout: policy evaluation did not finish within 20ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, nil)
			if tt.timeout > 0 {
				e.Timeout = tt.timeout
			}
			e.Activate("t1", mustCompile(t, "v1", tt.src))
			d, err := e.Decide(t.Context(), chargeInput(t, "t1", tt.amount))
			if err == nil {
				t.Error("Decide returned no error")
			}
			if d.Decision != policy.Deny || len(d.Reasons) != 1 || d.Reasons[0] != tt.want {
				t.Errorf("decision = %s, want deny with %q", outcome(d), tt.want)
			}
			if d.PolicyVersion != "v1" || !strings.HasPrefix(d.DecisionID, "dec_") {
				t.Errorf("decision = %+v, want version v1 and an ID", d)
			}
		})
	}
}

func TestFailClosedWhenCallerGivesUp(t *testing.T) {
	e := newEngine(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d, err := e.Decide(ctx, chargeInput(t, "t1", 1))
	if err == nil || d.Decision != policy.Deny || d.Reasons[0] != "policy_error: policy evaluation failed" {
		t.Errorf("Decide with a cancelled context = %s, %v; want a deny and an error", outcome(d), err)
	}
}

func TestActivateAndRollback(t *testing.T) {
	e := newEngine(t, nil)
	v1 := mustCompile(t, "v1", approveOver5000)
	v2 := mustCompile(t, "v2", denyOver1000)
	decide := func(tenant string) string {
		t.Helper()
		d, err := e.Decide(t.Context(), chargeInput(t, tenant, 9000))
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		return outcome(d)
	}
	steps := []struct {
		activate *policy.Version
		want     string
	}{
		{nil, "base allow "},
		{v1, "v1 require_approval over_5000"},
		{v2, "v2 deny over_1000"},
		{v1, "v1 require_approval over_5000"}, // rollback
		{nil, "base allow "},
	}
	for i, s := range steps {
		e.Activate("t1", s.activate)
		if got := decide("t1"); got != s.want {
			t.Errorf("step %d: decision %q, want %q", i, got, s.want)
		}
		if got := decide("t2"); got != "base allow " {
			t.Errorf("step %d: other tenant got %q, want the base policy", i, got)
		}
	}
}

// Decisions running while versions are swapped each see one whole version.
func TestActivateWhileDeciding(t *testing.T) {
	e := newEngine(t, nil)
	v1 := mustCompile(t, "v1", approveOver5000)
	v2 := mustCompile(t, "v2", denyOver1000)
	valid := map[string]bool{"v1 require_approval over_5000": true, "v2 deny over_1000": true}
	e.Activate("t1", v1)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 4 {
		wg.Go(func() {
			for range 50 {
				d, err := e.Decide(context.Background(), chargeInput(t, "t1", 9000))
				if got := outcome(d); err != nil || !valid[got] {
					errs <- fmt.Sprintf("%s (%v)", got, err)
				}
			}
		})
	}
	for i := range 100 {
		e.Activate("t1", []*policy.Version{v1, v2}[i%2])
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("decision during swaps: %s", s)
	}
}

// memStore is an in-memory policy.Store for the engine tests.
type memStore struct {
	mu       sync.Mutex
	versions map[string][]policy.StoredVersion
	active   map[string]string
	err      error // returned by every method when set
	// onLabels, when set, runs after ActivePolicyLabels read the labels
	// and before it returns them.
	onLabels func()
}

func newMemStore() *memStore {
	return &memStore{versions: map[string][]policy.StoredVersion{}, active: map[string]string{}}
}

func (s *memStore) CreatePolicyVersion(_ context.Context, v policy.StoredVersion) (policy.StoredVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return policy.StoredVersion{}, s.err
	}
	if v.Label == "" {
		v.Label = fmt.Sprintf("v%d", len(s.versions[v.TenantID])+1)
	}
	for _, o := range s.versions[v.TenantID] {
		if o.Label == v.Label {
			return policy.StoredVersion{}, vargate.Errorf(vargate.KindConflict, "label %s exists", v.Label)
		}
	}
	v.CreatedAt = time.Now()
	s.versions[v.TenantID] = append(s.versions[v.TenantID], v)
	return v, nil
}

func (s *memStore) GetPolicyVersion(_ context.Context, tenantID, label string) (policy.StoredVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return policy.StoredVersion{}, s.err
	}
	for _, v := range s.versions[tenantID] {
		if v.Label == label {
			return v, nil
		}
	}
	return policy.StoredVersion{}, vargate.NotFound("policy version " + label)
}

func (s *memStore) ListPolicyVersions(_ context.Context, tenantID string) ([]policy.StoredVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[tenantID], s.err
}

func (s *memStore) ActivatePolicyVersion(ctx context.Context, tenantID, label string) error {
	if _, err := s.GetPolicyVersion(ctx, tenantID, label); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[tenantID] = label
	return nil
}

func (s *memStore) GetActivePolicyVersion(ctx context.Context, tenantID string) (policy.StoredVersion, error) {
	s.mu.Lock()
	label, ok := s.active[tenantID]
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return policy.StoredVersion{}, err
	}
	if !ok {
		return policy.StoredVersion{}, vargate.NotFound("active policy version")
	}
	return s.GetPolicyVersion(ctx, tenantID, label)
}

func (s *memStore) ActivePolicyLabels(context.Context) (map[string]string, error) {
	s.mu.Lock()
	labels, err, hook := maps.Clone(s.active), s.err, s.onLabels
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return labels, err
}

var _ policy.Store = (*memStore)(nil)

func TestEngineWithStore(t *testing.T) {
	ctx := t.Context()
	store := newMemStore()
	for _, src := range []string{approveOver5000, denyOver1000} {
		if _, err := store.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: map[string]string{"p.rego": src}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.ActivatePolicyVersion(ctx, "t1", "v2"); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, store)
	in := chargeInput(t, "t1", 9000)

	check := func(step, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: got %q, want %q", step, got, want)
		}
	}
	d, err := e.Decide(ctx, in)
	check("active version loaded from the store", outcome(d)+fmt.Sprint(err), "v2 deny over_1000<nil>")

	d, err = e.Decide(ctx, chargeInput(t, "t-new", 9000))
	check("tenant without a version", outcome(d)+fmt.Sprint(err), "base allow <nil>")

	// Replay the same input against every version the tenant had.
	for _, c := range []struct{ label, want string }{
		{"v1", "v1 require_approval over_5000"},
		{"v2", "v2 deny over_1000"},
		{policy.BaseLabel, "base allow "},
	} {
		d, err := e.Replay(ctx, "t1", c.label, in)
		check("replay "+c.label, outcome(d)+fmt.Sprint(err), c.want+"<nil>")
	}

	d, err = e.Replay(ctx, "t1", "v9", in)
	if !vargate.IsKind(err, vargate.KindNotFound) || d.Decision != policy.Deny {
		t.Errorf("replay of a missing version = %s, %v; want a deny and not found", outcome(d), err)
	}

	// Another instance activates v1 and tells this one to forget.
	if err := store.ActivatePolicyVersion(ctx, "t1", "v1"); err != nil {
		t.Fatal(err)
	}
	d, _ = e.Decide(ctx, in)
	check("before Forget", outcome(d), "v2 deny over_1000")
	e.Forget("t1")
	d, _ = e.Decide(ctx, in)
	check("after Forget", outcome(d), "v1 require_approval over_5000")

	// A store that fails is a deny, never the (more lenient) base policy.
	store.err = errors.New("database is down")
	e.Forget("t1")
	d, err = e.Decide(ctx, in)
	if err == nil || outcome(d) != " deny policy_error: the tenant's policy could not be loaded" {
		t.Errorf("Decide with a failing store = %s, %v; want a deny and an error", outcome(d), err)
	}
}

func TestDecideStampsTime(t *testing.T) {
	e := newEngine(t, nil)
	now := time.Date(2026, 4, 11, 9, 0, 0, 0, time.UTC)
	e.Clock = func() time.Time { return now }
	in := chargeInput(t, "t1", 1)
	in.Time = time.Time{}
	if _, err := e.Decide(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if !in.Time.Equal(now) {
		t.Errorf("in.Time = %v, want %v", in.Time, now)
	}
}

func TestDecisionIDsAreUnique(t *testing.T) {
	e := newEngine(t, nil)
	seen := map[string]bool{}
	for range 100 {
		d, err := e.Decide(t.Context(), chargeInput(t, "t1", 1))
		if err != nil {
			t.Fatal(err)
		}
		if seen[d.DecisionID] {
			t.Fatalf("decision ID %s repeated", d.DecisionID)
		}
		seen[d.DecisionID] = true
	}
}

// The engine builds the Rego input directly from the struct; it must be
// the same document as the JSON the gateway records and replay reads.
func TestInputValueMatchesJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/*/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		in := readInput(t, file)
		got, err := policy.InputValue(&in)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := pii.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ast.InterfaceToValue(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%s: input value\n got %v\nwant %v", file, got, want)
		}
	}
}

// Arguments changed after NewCall are read again, not taken from the
// parsed copy.
func TestCallArgumentsChangedAfterNewCall(t *testing.T) {
	e := newEngine(t, nil)
	e.Activate("t1", mustCompile(t, "v1", denyOver1000))
	in := chargeInput(t, "t1", 10)
	in.Call.Arguments = json.RawMessage(`{"amount": 5000}`)
	d, err := e.Decide(t.Context(), in)
	if err != nil || outcome(d) != "v1 deny over_1000" {
		t.Errorf("decision = %s, %v; want deny over_1000", outcome(d), err)
	}
}

func TestDigest(t *testing.T) {
	a := policy.Digest(json.RawMessage(`{"b": [1, 2.50, "x"], "a": {"y": true, "x": null}}`))
	b := policy.Digest(json.RawMessage(`{"a":{"x":null,"y":true},"b":[1,2.50,"x"]}`))
	c := policy.Digest(json.RawMessage(`{"a":{"x":null,"y":true},"b":[1,2.51,"x"]}`))
	if a != b {
		t.Errorf("member order and whitespace changed the digest: %s != %s", a, b)
	}
	if a == c {
		t.Errorf("a different number gave the same digest %s", a)
	}
	// RFC 8785: 2.50 and 2.5 are one number.
	if d := policy.Digest(json.RawMessage(`{"a":{"x":null,"y":true},"b":[1,2.5,"x"]}`)); d != a {
		t.Errorf("2.50 and 2.5 gave digests %s and %s", a, d)
	}
	if !strings.HasPrefix(a, "jcs-sha256:") || len(a) != len("jcs-sha256:")+64 {
		t.Errorf("digest %q is not jcs-sha256:<hex>", a)
	}
	call, _, err := policy.NewCall("x", json.RawMessage(`{"a":{"x":null,"y":true},"b":[1,2.50,"x"]}`))
	if err != nil || call.ArgumentsDigest != a {
		t.Errorf("NewCall digest = %q, %v; want %q", call.ArgumentsDigest, err, a)
	}
}

func TestNewCallRejectsInvalidArguments(t *testing.T) {
	_, _, err := policy.NewCall("x", json.RawMessage(`{"a":`))
	if !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("NewCall with broken JSON: err = %v, want invalid", err)
	}
}

// A Refresh that read the active labels just before another activation
// was stored and swapped in must not swap the older version back.
func TestRefreshDoesNotUndoAConcurrentActivation(t *testing.T) {
	ctx := t.Context()
	store := newMemStore()
	for _, src := range []string{approveOver5000, denyOver1000} {
		if _, err := store.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: map[string]string{"p.rego": src}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.ActivatePolicyVersion(ctx, "t1", "v1"); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, store)
	if v, err := e.ActiveVersion(ctx, "t1"); err != nil || v.Label != "v1" {
		t.Fatalf("active %v, %v", v, err)
	}
	v2, err := e.Version(ctx, "t1", "v2")
	if err != nil {
		t.Fatal(err)
	}
	// The activation of v2 happens while Refresh holds labels naming v1
	// (as an Admin on this gateway would: store, then engine).
	store.onLabels = func() {
		store.onLabels = nil
		if err := store.ActivatePolicyVersion(ctx, "t1", "v2"); err != nil {
			t.Error(err)
		}
		e.Activate("t1", v2)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.ActiveVersion(ctx, "t1"); v.Label != "v2" {
		t.Errorf("after a Refresh that raced an activation: %s, want v2", v.Label)
	}
}
