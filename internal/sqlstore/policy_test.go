package sqlstore_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// newPolicyStore returns a policy store over db with tenants t1 and t2.
func newPolicyStore(t *testing.T, db *sqlstore.DB) *sqlstore.PolicyStore {
	t.Helper()
	as := sqlstore.NewAuthStore(db)
	for _, id := range []string{"t1", "t2"} {
		if err := as.CreateTenant(t.Context(), auth.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return sqlstore.NewPolicyStore(db)
}

func mods(rule string) map[string]string {
	return map[string]string{"p.rego": "package vargate.tenant\n\n" + rule + "\n"}
}

func labels(vs []policy.StoredVersion) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Label)
	}
	return out
}

func TestPolicyStoreVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newPolicyStore(t, db)

		create := func(label string) (policy.StoredVersion, error) {
			return s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Label: label, Modules: mods("# " + label), CreatedBy: "key-a"})
		}
		// Empty labels get v<N>, N = versions + 1, or the next free number.
		for _, tt := range []struct{ label, want string }{
			{"", "v1"}, {"", "v2"}, {"v3.2", "v3.2"}, {"", "v4"}, {"v6", "v6"}, {"", "v7"},
		} {
			v, err := create(tt.label)
			if err != nil {
				t.Fatalf("create %q: %v", tt.label, err)
			}
			if v.Label != tt.want || v.CreatedAt.IsZero() || v.CreatedBy != "key-a" || v.TenantID != "t1" {
				t.Errorf("create %q = %+v, want label %s with CreatedAt and CreatedBy", tt.label, v, tt.want)
			}
		}
		for _, label := range []string{"v1", "v3.2", "v6"} {
			if _, err := create(label); !vargate.IsKind(err, vargate.KindConflict) {
				t.Errorf("reuse label %s: got %v, want conflict", label, err)
			}
		}
		if _, err := create(policy.BaseLabel); !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("label base: got %v, want invalid", err)
		}
		// The other tenant numbers its own versions.
		if v, err := s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t2", Modules: mods("")}); err != nil || v.Label != "v1" {
			t.Errorf("t2's first version = %q, %v; want v1", v.Label, err)
		}

		got, err := s.GetPolicyVersion(ctx, "t1", "v3.2")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(mods("# v3.2"), got.Modules); diff != "" {
			t.Errorf("modules (-want +got):\n%s", diff)
		}
		if got.CreatedBy != "key-a" || got.CreatedAt.IsZero() {
			t.Errorf("got %+v", got)
		}
		for _, tt := range []struct{ tenant, label string }{{"t1", "v9"}, {"t2", "v2"}, {"t3", "v1"}} {
			if _, err := s.GetPolicyVersion(ctx, tt.tenant, tt.label); !vargate.IsKind(err, vargate.KindNotFound) {
				t.Errorf("get %s/%s: got %v, want not found", tt.tenant, tt.label, err)
			}
		}

		list, err := s.ListPolicyVersions(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"v7", "v6", "v4", "v3.2", "v2", "v1"}, labels(list)); diff != "" {
			t.Errorf("list order (-want +got):\n%s", diff)
		}
		for _, v := range list {
			if v.Modules != nil {
				t.Errorf("list returned the modules of %s", v.Label)
			}
		}
		if list, err := s.ListPolicyVersions(ctx, "t3"); err != nil || len(list) != 0 {
			t.Errorf("list of a tenant without versions = %v, %v", list, err)
		}
	})
}

func TestPolicyStoreActivation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newPolicyStore(t, db)
		for range 4 {
			if _, err := s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: mods(""), CreatedBy: "key-a"}); err != nil {
				t.Fatal(err)
			}
		}

		// Before any activation the base policy applies.
		if _, err := s.GetActivePolicyVersion(ctx, "t1"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("active before activation: got %v, want not found", err)
		}
		if _, err := s.GetPolicyActivation(ctx, "t1"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("activation before activation: got %v, want not found", err)
		}
		if _, err := s.RollbackPolicyVersion(ctx, "t1", "", "key-a"); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("rollback before activation: got %v, want conflict", err)
		}
		if err := s.ActivatePolicyVersion(ctx, "t1", "v9"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("activate missing: got %v, want not found", err)
		}
		if err := s.ActivatePolicyVersion(ctx, "t2", "v1"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("activate another tenant's version: got %v, want not found", err)
		}

		// The interface method records the principal in the context.
		pctx := vargate.NewContext(ctx, vargate.Principal{TenantID: "t1", Role: vargate.RoleAdmin, KeyID: "key-ctx"})
		if err := s.ActivatePolicyVersion(pctx, "t1", "v1"); err != nil {
			t.Fatal(err)
		}
		act := func(label string) policy.Activation {
			t.Helper()
			a, changed, err := s.ActivatePolicyVersionBy(ctx, "t1", label, "key-b")
			if err != nil || !changed {
				t.Fatalf("activate %s: changed %v, %v", label, changed, err)
			}
			return a
		}
		act("v2")
		a4 := act("v4")
		if a4.Seq != 3 || a4.Label != "v4" || a4.Previous != "v2" || a4.Rollback || a4.ActivatedBy != "key-b" || a4.ActivatedAt.IsZero() {
			t.Errorf("activation = %+v", a4)
		}
		// Activating the active version changes nothing.
		same, changed, err := s.ActivatePolicyVersionBy(ctx, "t1", "v4", "key-c")
		if err != nil || changed || same.Seq != 3 {
			t.Errorf("activate active version: %+v changed %v err %v; want activation 3 unchanged", same, changed, err)
		}
		active, err := s.GetActivePolicyVersion(ctx, "t1")
		if err != nil || active.Label != "v4" || active.Modules == nil {
			t.Fatalf("active = %+v, %v; want v4 with modules", active, err)
		}

		// Rollback walks back through earlier activations: v4 → v2 → v1.
		if target, err := s.PolicyRollbackTarget(ctx, "t1"); err != nil || target != "v2" {
			t.Errorf("rollback target = %q, %v; want v2", target, err)
		}
		if _, err := s.RollbackPolicyVersion(ctx, "t1", "v1", "key-b"); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("rollback expecting the wrong target: got %v, want conflict", err)
		}
		rb, err := s.RollbackPolicyVersion(ctx, "t1", "v2", "key-d")
		if err != nil {
			t.Fatal(err)
		}
		if rb.Label != "v2" || rb.Previous != "v4" || !rb.Rollback || rb.ActivatedBy != "key-d" || rb.Seq != 4 {
			t.Errorf("rollback = %+v, want v2 from v4 by key-d", rb)
		}
		rb, err = s.RollbackPolicyVersion(ctx, "t1", "", "key-d")
		if err != nil || rb.Label != "v1" || rb.Previous != "v2" {
			t.Fatalf("second rollback = %+v, %v; want v1 from v2", rb, err)
		}
		if _, err := s.RollbackPolicyVersion(ctx, "t1", "", "key-d"); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("rollback past the first activation: got %v, want conflict", err)
		}
		if _, err := s.PolicyRollbackTarget(ctx, "t1"); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("rollback target past the first activation: got %v, want conflict", err)
		}
		// After rolling back, a new activation can be undone again.
		act("v3")
		if target, err := s.PolicyRollbackTarget(ctx, "t1"); err != nil || target != "v1" {
			t.Errorf("rollback target after re-activation = %q, %v; want v1", target, err)
		}

		cur, err := s.GetPolicyActivation(ctx, "t1")
		if err != nil || cur.Label != "v3" || cur.Seq != 6 {
			t.Errorf("current activation = %+v, %v", cur, err)
		}
		history, err := s.ListPolicyActivations(ctx, "t1", 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []policy.Activation{
			{TenantID: "t1", Seq: 6, Label: "v3", Previous: "v1", ActivatedBy: "key-b"},
			{TenantID: "t1", Seq: 5, Label: "v1", Previous: "v2", Rollback: true, ActivatedBy: "key-d"},
			{TenantID: "t1", Seq: 4, Label: "v2", Previous: "v4", Rollback: true, ActivatedBy: "key-d"},
			{TenantID: "t1", Seq: 3, Label: "v4", Previous: "v2", ActivatedBy: "key-b"},
			{TenantID: "t1", Seq: 2, Label: "v2", Previous: "v1", ActivatedBy: "key-b"},
			{TenantID: "t1", Seq: 1, Label: "v1", Previous: policy.BaseLabel, ActivatedBy: "key-ctx"},
		}
		if diff := cmp.Diff(want, history, cmpopts.IgnoreFields(policy.Activation{}, "ActivatedAt")); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if last2, err := s.ListPolicyActivations(ctx, "t1", 2); err != nil || len(last2) != 2 || last2[0].Seq != 6 {
			t.Errorf("history limited to 2 = %+v, %v", last2, err)
		}
		if other, err := s.ListPolicyActivations(ctx, "t2", 0); err != nil || len(other) != 0 {
			t.Errorf("t2 history = %+v, %v", other, err)
		}
	})
}

func TestPolicyStoreNeverDeletes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newPolicyStore(t, db)
		if _, err := s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: mods("")}); err != nil {
			t.Fatal(err)
		}
		if err := s.ActivatePolicyVersion(ctx, "t1", "v1"); err != nil {
			t.Fatal(err)
		}
		stmts := []string{
			`UPDATE policy_versions SET modules = '{}'`,
			`UPDATE policy_versions SET label = 'v9'`,
			`DELETE FROM policy_versions`,
			`UPDATE policy_activations SET label = 'v9'`,
			`DELETE FROM policy_activations`,
		}
		if db.Dialect == sqlstore.Postgres {
			stmts = append(stmts, `TRUNCATE policy_versions CASCADE`, `TRUNCATE policy_activations`)
		}
		for _, q := range stmts {
			if _, err := db.Write.ExecContext(ctx, q); err == nil {
				t.Errorf("%s: succeeded, want refusal", q)
			}
		}
		v, err := s.GetActivePolicyVersion(ctx, "t1")
		if err != nil || v.Label != "v1" || len(v.Modules) != 1 {
			t.Errorf("after tampering attempts: active %+v, %v", v, err)
		}
	})
}

// Concurrent uploads without labels get distinct consecutive labels: the
// tenant's head row serialises them on both dialects.
func TestPolicyStoreConcurrentCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newPolicyStore(t, db)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		got := make(chan string, n)
		for range n {
			wg.Go(func() {
				v, err := s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: mods("")})
				errs <- err
				got <- v.Label
			})
		}
		wg.Wait()
		close(errs)
		close(got)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		var ls []string
		for l := range got {
			ls = append(ls, l)
		}
		slices.Sort(ls)
		var want []string
		for i := 1; i <= n; i++ {
			want = append(want, fmt.Sprintf("v%d", i))
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, ls); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})
}

const denyCharges = `package vargate.tenant

deny contains "no_charges: charges are switched off" if input.call.tool == "vargate_create_charge"
`

// An engine started over the store decides with the version activated
// before it started, as after a gateway restart.
func TestPolicyStoreEngineRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newPolicyStore(t, db)
		if _, err := policy.Compile(ctx, "", map[string]string{"charges.rego": denyCharges}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: map[string]string{"charges.rego": denyCharges}}); err != nil {
			t.Fatal(err)
		}
		in := func(tenant string) *policy.Input {
			return &policy.Input{
				Tenant: policy.Tenant{ID: tenant},
				Agent:  policy.Agent{AllowedTools: []string{"vargate_create_charge"}},
				Call:   policy.Call{Tool: "vargate_create_charge", Arguments: []byte(`{}`)},
			}
		}
		decide := func(e *policy.Engine, tenant string) policy.Decision {
			t.Helper()
			d, err := e.Decide(ctx, in(tenant))
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		before, err := policy.NewEngine(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if d := decide(before, "t1"); d.Decision != policy.Allow || d.PolicyVersion != policy.BaseLabel {
			t.Errorf("before activation: %+v, want allow by base", d)
		}
		if err := s.ActivatePolicyVersion(ctx, "t1", "v1"); err != nil {
			t.Fatal(err)
		}
		after, err := policy.NewEngine(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if d := decide(after, "t1"); d.Decision != policy.Deny || d.PolicyVersion != "v1" {
			t.Errorf("after restart: %+v, want deny by v1", d)
		}
		if d := decide(after, "t2"); d.Decision != policy.Allow {
			t.Errorf("other tenant: %+v, want allow", d)
		}
	})
}

// Two gateways on one database: an activation made through one (or the
// CLI) reaches the other's engine at its next Refresh, and so does a
// rollback; a tenant whose version is not in memory is left to load on
// first use.
func TestPolicyStoreEngineFollows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newPolicyStore(t, db)
		for _, src := range []string{denyCharges, "package vargate.tenant\n\n# allows what the base allows\n"} {
			if _, err := s.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: "t1", Modules: map[string]string{"p.rego": src}}); err != nil {
				t.Fatal(err)
			}
		}
		e, err := policy.NewEngine(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		active := func() string {
			t.Helper()
			v, err := e.ActiveVersion(ctx, "t1")
			if err != nil {
				t.Fatal(err)
			}
			return v.Label
		}
		if got := active(); got != policy.BaseLabel {
			t.Fatalf("active = %s, want base", got)
		}
		steps := []struct {
			change func() error
			want   string
		}{
			{func() error { return s.ActivatePolicyVersion(ctx, "t1", "v1") }, "v1"},
			{func() error { return s.ActivatePolicyVersion(ctx, "t1", "v2") }, "v2"},
			{func() error { _, err := s.RollbackPolicyVersion(ctx, "t1", "", "key-a"); return err }, "v1"},
		}
		for _, st := range steps {
			if err := st.change(); err != nil {
				t.Fatal(err)
			}
			if got := active(); got == st.want {
				t.Fatalf("the engine saw %s before Refresh", got)
			}
			if err := e.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if got := active(); got != st.want {
				t.Errorf("after Refresh: active %s, want %s", got, st.want)
			}
		}
		d, err := e.Decide(ctx, &policy.Input{
			Tenant: policy.Tenant{ID: "t1"},
			Agent:  policy.Agent{AllowedTools: []string{"vargate_create_charge"}},
			Call:   policy.Call{Tool: "vargate_create_charge", Arguments: []byte(`{}`)},
		})
		if err != nil || d.Decision != policy.Deny || d.PolicyVersion != "v1" {
			t.Errorf("decision after following: %+v, %v; want deny by v1", d, err)
		}
		labels, err := s.ActivePolicyLabels(ctx)
		if err != nil || len(labels) != 1 || labels["t1"] != "v1" {
			t.Errorf("ActivePolicyLabels = %v, %v", labels, err)
		}
	})
}
