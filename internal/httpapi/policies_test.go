package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/policy"
)

// upload posts modules as acme's admin.
func (e *api) upload(t *testing.T, label string, modules map[string]string, activate bool, out any) response {
	t.Helper()
	b, err := json.Marshal(httpapi.PolicyUploadRequest{Label: label, Modules: modules, Activate: activate})
	if err != nil {
		t.Fatal(err)
	}
	return e.do(t, "acme/admin", "POST", "/policies", string(b), out)
}

// decide asks the engine about a charge of amount for tenant.
func (e *api) decide(t *testing.T, tenant string, amount int) policy.Decision {
	t.Helper()
	return decideWith(t, e.engine, e.tids[tenant], amount)
}

func decideWith(t *testing.T, engine *policy.Engine, tenantID string, amount int) policy.Decision {
	t.Helper()
	args, _ := json.Marshal(map[string]int{"amount": amount})
	d, err := engine.Decide(t.Context(), &policy.Input{
		Tenant: policy.Tenant{ID: tenantID},
		Agent:  policy.Agent{AllowedTools: []string{"vargate_create_charge"}},
		Call:   policy.Call{Tool: "vargate_create_charge", Arguments: args},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// controlPlane returns the Decision (event) and label of acme's
// control_plane records, oldest first.
func (e *api) controlPlane(t *testing.T) []string {
	t.Helper()
	recs, err := e.log.Store.List(t.Context(), e.tids["acme"], audit.Filter{Source: audit.SourceControlPlane})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i].Decision+" "+recs[i].PolicyVersion)
	}
	return out
}

const (
	// approveCharges asks for approval above 5000, with a passing test.
	approveCharges = `package vargate.tenant

require_approval contains sprintf("large_amount: charge of %v is above 5000", [amount]) if {
	input.call.tool == "vargate_create_charge"
	amount := input.call.arguments.amount
	amount > 5000
}
`
	approveChargesTest = `package vargate.tenant.tests

test_large_charge_needs_approval if {
	r := data.vargate.base.result with input as {
		"agent": {"allowed_tools": ["vargate_create_charge"]},
		"call": {"tool": "vargate_create_charge", "arguments": {"amount": 9000}},
		"pii": [], "time": "2026-04-11T10:00:00Z",
	}
	"large_amount: charge of 9000 is above 5000" in r.require_approval
}

test_small_charge_allowed if {
	r := data.vargate.base.result with input as {
		"agent": {"allowed_tools": ["vargate_create_charge"]},
		"call": {"tool": "vargate_create_charge", "arguments": {"amount": 10}},
		"pii": [], "time": "2026-04-11T10:00:00Z",
	}
	count(r.require_approval) == 0
}
`
	// denyCharges denies every charge above 1000.
	denyCharges = `package vargate.tenant

deny contains "no_large_charges: charges above 1000 are switched off" if {
	input.call.tool == "vargate_create_charge"
	input.call.arguments.amount > 1000
}
`
)

func TestPolicyRoles(t *testing.T) {
	e := newAPI(t, apiOptions{Policies: true})
	if r := e.upload(t, "v1", map[string]string{"charges.rego": approveCharges}, false, nil); r.status != 201 {
		t.Fatalf("admin upload: %d %s", r.status, r.raw)
	}
	reads := []string{"/policies", "/policies/active", "/policies/v1"}
	for _, who := range []string{"acme/admin", "acme/approver", "acme/auditor"} {
		for _, path := range reads {
			if r := e.do(t, who, "GET", path, "", nil); r.status != 200 {
				t.Errorf("%s GET %s = %d %s, want 200", who, path, r.status, r.raw)
			}
		}
	}
	for _, path := range reads {
		if r := e.do(t, "acme/agent", "GET", path, "", nil); r.status != 403 {
			t.Errorf("agent GET %s = %d, want 403", path, r.status)
		}
	}
	writes := []struct{ path, body string }{
		{"/policies", `{"modules": {"a.rego": "package vargate.tenant"}}`},
		{"/policies/v1/activate", ""},
		{"/policies/rollback", ""},
	}
	for _, who := range []string{"acme/approver", "acme/auditor", "acme/agent"} {
		for _, w := range writes {
			if r := e.do(t, who, "POST", w.path, w.body, nil); r.status != 403 {
				t.Errorf("%s POST %s = %d, want 403", who, w.path, r.status)
			}
		}
	}
	// Another tenant sees none of acme's versions.
	if r := e.do(t, "globex/admin", "GET", "/policies/v1", "", nil); r.status != 404 {
		t.Errorf("globex GET acme's v1 = %d, want 404", r.status)
	}
	if r := e.do(t, "globex/admin", "POST", "/policies/v1/activate", "", nil); r.status != 404 {
		t.Errorf("globex activating acme's v1 = %d, want 404", r.status)
	}
	var list httpapi.PolicyListResponse
	if e.do(t, "globex/auditor", "GET", "/policies", "", &list); list.Count != 0 || list.Active != "base" {
		t.Errorf("globex list = %+v, want empty with base active", list)
	}
}

func TestPolicyUploadRejected(t *testing.T) {
	e := newAPI(t, apiOptions{Policies: true})
	failingTest := `package vargate.tenant.tests

test_small_charge_needs_approval if {
	r := data.vargate.base.result with input as {
		"agent": {"allowed_tools": ["vargate_create_charge"]},
		"call": {"tool": "vargate_create_charge", "arguments": {"amount": 10}},
		"pii": [], "time": "2026-04-11T10:00:00Z",
	}
	count(r.require_approval) == 1
}
`
	tests := []struct {
		name    string
		label   string
		modules map[string]string
		field   string
		message []string // substrings of the error message
		failed  string   // a test reported as failing in the body
	}{
		{
			name:    "syntax error",
			modules: map[string]string{"bad.rego": "package vargate.tenant\n\ndeny contains \"x\" if {\n"},
			field:   "modules", message: []string{"rego_parse_error", "bad.rego:"},
		},
		{
			name:    "failing test_ rule",
			modules: map[string]string{"charges.rego": approveCharges, "charges_test.rego": failingTest},
			field:   "modules",
			message: []string{"1 of 1 tests failed", "charges_test.rego:3", "data.vargate.tenant.tests.test_small_charge_needs_approval"},
			failed:  "data.vargate.tenant.tests.test_small_charge_needs_approval",
		},
		{
			name:    "compile error",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\ndeny contains x if { y := 1 }\n"},
			field:   "modules", message: []string{"rego_"},
		},
		{
			name:    "outside vargate.tenant",
			modules: map[string]string{"a.rego": "package vargate.base\n\nx := 1\n"},
			field:   "modules", message: []string{"vargate.tenant"},
		},
		{name: "no modules", modules: nil, field: "modules", message: []string{"required"}},
		{name: "reserved label", label: "active", modules: map[string]string{"a.rego": approveCharges}, field: "label", message: []string{"reserved"}},
		{name: "base label", label: "base", modules: map[string]string{"a.rego": approveCharges}, field: "label", message: []string{"reserved"}},
		{name: "bad label", label: "v 1", modules: map[string]string{"a.rego": approveCharges}, field: "label", message: []string{"letters, digits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body struct {
				httpapi.ErrorBody
				Tests []policy.TestResult `json:"tests"`
			}
			r := e.upload(t, tt.label, tt.modules, true, &body)
			if r.status != 422 {
				t.Fatalf("status %d %s, want 422", r.status, r.raw)
			}
			t.Logf("422: %s", body.Error.Message)
			if body.Error.Code != "invalid" || body.Error.Field != tt.field {
				t.Errorf("error = %+v, want invalid on %s", body.Error, tt.field)
			}
			for _, m := range tt.message {
				if !strings.Contains(body.Error.Message, m) {
					t.Errorf("message %q does not mention %q", body.Error.Message, m)
				}
			}
			if tt.failed != "" {
				found := false
				for _, r := range body.Tests {
					found = found || (r.Name == tt.failed && !r.Pass)
				}
				if !found {
					t.Errorf("tests %+v do not report %s as failing", body.Tests, tt.failed)
				}
			}
		})
	}
	var list httpapi.PolicyListResponse
	e.do(t, "acme/admin", "GET", "/policies", "", &list)
	if list.Count != 0 || list.Active != "base" {
		t.Errorf("after rejected uploads: %+v, want nothing stored", list)
	}
	if got := e.controlPlane(t); len(got) != 0 {
		t.Errorf("rejected uploads were audited: %v", got)
	}
	if r := e.upload(t, "v1", map[string]string{"a.rego": approveCharges}, false, nil); r.status != 201 {
		t.Fatalf("upload v1: %d %s", r.status, r.raw)
	}
	var conflict httpapi.ErrorBody
	if r := e.upload(t, "v1", map[string]string{"a.rego": denyCharges}, false, &conflict); r.status != 409 || conflict.Error.Code != "conflict" {
		t.Errorf("reused label: %d %+v, want 409", r.status, conflict)
	}
}

func TestPolicyActivationAndRollback(t *testing.T) {
	e := newAPI(t, apiOptions{Policies: true})
	if d := e.decide(t, "acme", 9000); d.Decision != policy.Allow || d.PolicyVersion != "base" {
		t.Fatalf("before any upload: %+v, want allow by base", d)
	}

	// Upload v1 (approval above 5000) with its tests; not yet active.
	var up httpapi.PolicyUploadResponse
	r := e.upload(t, "", map[string]string{"charges.rego": approveCharges, "charges_test.rego": approveChargesTest}, false, &up)
	if r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	if up.Version.Label != "v1" || up.Version.Active || up.Activation != nil || !strings.HasPrefix(up.Version.Digest, "sha256:") {
		t.Errorf("upload answer = %+v", up)
	}
	if len(up.Tests) != 2 || !up.Tests[0].Pass || !up.Tests[1].Pass {
		t.Errorf("tests = %+v, want two passing", up.Tests)
	}
	if d := e.decide(t, "acme", 9000); d.Decision != policy.Allow {
		t.Errorf("uploaded but not activated: %+v, want allow", d)
	}

	// Activation takes effect for the next decision.
	var act httpapi.PolicyActivateResponse
	if r := e.do(t, "acme/admin", "POST", "/policies/v1/activate", "", &act); r.status != 200 {
		t.Fatalf("activate v1: %d %s", r.status, r.raw)
	}
	if !act.Changed || act.Active != "v1" || act.Activation.Previous != "base" || act.Activation.ActivatedBy != e.ids["acme/admin"] || act.Activation.ActivatedAt.IsZero() {
		t.Errorf("activation = %+v", act)
	}
	if d := e.decide(t, "acme", 9000); d.Decision != policy.RequireApproval || d.PolicyVersion != "v1" {
		t.Errorf("after activating v1: %+v, want require_approval by v1", d)
	}
	if d := e.decide(t, "globex", 9000); d.Decision != policy.Allow {
		t.Errorf("other tenant after acme's activation: %+v, want allow", d)
	}
	// Activating the active version again changes nothing and is not audited.
	if e.do(t, "acme/admin", "POST", "/policies/v1/activate", "", &act); act.Changed {
		t.Errorf("re-activating v1: %+v, want unchanged", act)
	}

	// Upload and activate v2 (deny above 1000) in one call.
	r = e.upload(t, "strict-2", map[string]string{"charges.rego": denyCharges}, true, &up)
	if r.status != 201 || up.Activation == nil || up.Activation.Previous != "v1" || !up.Version.Active {
		t.Fatalf("upload and activate: %d %s", r.status, r.raw)
	}
	if d := e.decide(t, "acme", 2000); d.Decision != policy.Deny || d.PolicyVersion != "strict-2" {
		t.Errorf("after activating strict-2: %+v, want deny by strict-2", d)
	}

	// Rollback returns to v1; once more, and there is nothing left.
	if r := e.do(t, "acme/admin", "POST", "/policies/rollback", "", &act); r.status != 200 {
		t.Fatalf("rollback: %d %s", r.status, r.raw)
	}
	if act.Active != "v1" || !act.Activation.Rollback || act.Activation.Previous != "strict-2" {
		t.Errorf("rollback = %+v, want v1 from strict-2", act)
	}
	if d := e.decide(t, "acme", 9000); d.Decision != policy.RequireApproval || d.PolicyVersion != "v1" {
		t.Errorf("after rollback: %+v, want require_approval by v1", d)
	}
	var conflict httpapi.ErrorBody
	if r := e.do(t, "acme/admin", "POST", "/policies/rollback", "{}", &conflict); r.status != 409 {
		t.Errorf("rollback past the first activation: %d %+v, want 409", r.status, conflict)
	}

	// Rolling back by label: activate the older version directly.
	if r := e.do(t, "acme/admin", "POST", "/policies/strict-2/activate", "", &act); r.status != 200 || act.Activation.Previous != "v1" {
		t.Fatalf("activate strict-2 again: %d %s", r.status, r.raw)
	}
	if r := e.do(t, "acme/admin", "POST", "/policies/v9/activate", "", nil); r.status != 404 {
		t.Errorf("activate a missing version: %d, want 404", r.status)
	}
	if r := e.do(t, "acme/admin", "POST", "/policies/base/activate", "", nil); r.status != 422 {
		t.Errorf("activate base: %d, want 422", r.status)
	}

	// What the API shows.
	var active httpapi.PolicyActiveResponse
	e.do(t, "acme/auditor", "GET", "/policies/active", "", &active)
	var hist []string
	for _, h := range active.History {
		hist = append(hist, h.Previous+"→"+h.Label)
	}
	if diff := cmp.Diff([]string{"v1→strict-2", "strict-2→v1", "v1→strict-2", "base→v1"}, hist); active.Label != "strict-2" || diff != "" {
		t.Errorf("active = %s, history (-want +got):\n%s", active.Label, diff)
	}
	var list httpapi.PolicyListResponse
	e.do(t, "acme/auditor", "GET", "/policies", "", &list)
	if list.Count != 2 || list.Active != "strict-2" || list.Versions[0].Label != "strict-2" || !list.Versions[0].Active || list.Versions[1].Active || list.Versions[0].Modules != nil {
		t.Errorf("list = %+v", list)
	}
	var v1 httpapi.PolicyVersion
	e.do(t, "acme/auditor", "GET", "/policies/v1", "", &v1)
	if v1.Modules["charges.rego"] != approveCharges || v1.Active || v1.CreatedBy != e.ids["acme/admin"] || v1.Digest != policy.ModulesDigest(v1.Modules) {
		t.Errorf("GET v1 = %+v", v1)
	}

	// Every change is a control_plane record, by the admin's key.
	want := []string{
		"policy.uploaded v1", "policy.activated v1",
		"policy.uploaded strict-2", "policy.activated strict-2",
		"policy.rolled_back v1", "policy.activated strict-2",
	}
	if diff := cmp.Diff(want, e.controlPlane(t)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	recs, err := e.log.Store.List(t.Context(), e.tids["acme"], audit.Filter{Source: audit.SourceControlPlane})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var detail map[string]any
		if err := json.Unmarshal(r.Detail, &detail); err != nil {
			t.Fatal(err)
		}
		if r.Actor != e.ids["acme/admin"] || !strings.HasPrefix(detail["digest"].(string), "sha256:") {
			t.Errorf("record %s: actor %s detail %s", r.Decision, r.Actor, r.Detail)
		}
	}

	// A restarted gateway decides with the active version.
	restarted, err := policy.NewEngine(t.Context(), e.policies)
	if err != nil {
		t.Fatal(err)
	}
	if d := decideWith(t, restarted, e.tids["acme"], 2000); d.Decision != policy.Deny || d.PolicyVersion != "strict-2" {
		t.Errorf("after restart: %+v, want deny by strict-2", d)
	}
}

func TestPoliciesNotConfigured(t *testing.T) {
	e := newAPI(t, apiOptions{})
	r := e.do(t, "acme/admin", "GET", "/policies", "", nil)
	if r.status != 503 {
		t.Errorf("GET /policies without a policy service = %d, want 503", r.status)
	}
}

// The base policy decides for every tenant, so every human role can read
// it: GET /policies/base answers its sources, and it cannot be activated
// on its own.
func TestBasePolicyReadable(t *testing.T) {
	e := newAPI(t, apiOptions{Policies: true})
	for _, who := range []string{"acme/admin", "acme/auditor", "globex/admin"} {
		var v httpapi.PolicyVersion
		if r := e.do(t, who, "GET", "/api/policies/base", "", &v); r.status != 200 || v.Label != "base" || v.CreatedAt != nil ||
			!strings.Contains(v.Modules["base.rego"], "package vargate") || v.Digest == "" || !v.Active {
			t.Errorf("%s: GET /policies/base = %d %s", who, r.status, r.raw)
		}
		for name := range v.Modules {
			if strings.HasSuffix(name, "_test.rego") {
				t.Errorf("base policy answer includes its tests (%s)", name)
			}
		}
	}
	if r := e.do(t, "acme/agent", "GET", "/api/policies/base", "", nil); r.status != 403 {
		t.Errorf("agent key reads the base policy: %d", r.status)
	}
	if r := e.do(t, "acme/admin", "POST", "/api/policies/base/activate", "", nil); r.status != 422 {
		t.Errorf("activate base = %d, want 422", r.status)
	}
}
