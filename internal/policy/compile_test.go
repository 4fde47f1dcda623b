package policy_test

import (
	"strings"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/policy"
)

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name    string
		label   string
		modules map[string]string
		want    string // in the error message
	}{
		{
			name:    "bad syntax",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\ndeny contains \"x\" if {\n"},
			want:    "rego_parse_error: unexpected eof token",
		},
		{
			name:    "compile error",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\ndeny contains msg if { x := 1 }\n"},
			want:    "rego_unsafe_var_error: var msg is unsafe",
		},
		{
			name:    "other package",
			modules: map[string]string{"a.rego": "package acme.rules\n\nx := 1\n"},
			want:    "a.rego: package acme.rules is not allowed",
		},
		{
			name:    "overriding the base package",
			modules: map[string]string{"a.rego": "package vargate.base\n\nresult := {\"deny\": set(), \"require_approval\": set()}\n"},
			want:    "package vargate.base is not allowed",
		},
		{
			name:    "parent package",
			modules: map[string]string{"a.rego": "package vargate\n\nx := 1\n"},
			want:    "package vargate is not allowed",
		},
		{
			name:    "deny as a boolean",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\ndeny := true\n"},
			want:    "a.rego:3: deny must be a set of reason strings",
		},
		{
			name:    "require_approval as an object",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\nrequire_approval[\"x\"] := 1\n"},
			want:    "require_approval must be a set of reason strings",
		},
		{
			name: "failing test",
			modules: map[string]string{
				"a.rego":      "package vargate.tenant\n\ndeny contains \"no\" if input.call.tool == \"x\"\n",
				"a_test.rego": "package vargate.tenant.tests\n\ntest_passes if true\n\ntest_fails if {\n\tcount(data.vargate.tenant.deny) == 1 with input as {\"call\": {\"tool\": \"y\"}}\n}\n",
			},
			want: "1 of 2 tests failed:\na_test.rego:5: data.vargate.tenant.tests.test_fails: failed",
		},
		{
			name: "erroring test",
			modules: map[string]string{
				"a_test.rego": "package vargate.tenant.tests\n\ntest_error if {\n\tto_number(\"abc\") == 1\n}\n",
			},
			want: "data.vargate.tenant.tests.test_error: error:",
		},
		{
			name:    "non-deterministic builtin",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\ndeny contains \"late\" if time.now_ns() > 0\n"},
			want:    "undefined function time.now_ns",
		},
		{
			name:    "network builtin",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\nx := http.send({\"method\": \"GET\", \"url\": \"http://example.com\"})\n"},
			want:    "undefined function http.send",
		},
		{
			name:    "recursion through the base policy",
			modules: map[string]string{"a.rego": "package vargate.tenant\n\nimport data.vargate.base\n\ndeny contains \"loop\" if count(base.deny) == 0\n"},
			want:    "rego_recursion_error",
		},
		{
			name:    "bad module name",
			modules: map[string]string{"../a.rego": "package vargate.tenant\n"},
			want:    "module name \"../a.rego\"",
		},
		{
			name:    "reserved label",
			label:   "base",
			modules: map[string]string{"a.rego": "package vargate.tenant\n"},
			want:    "label \"base\" is reserved",
		},
		{
			name:    "bad label",
			label:   "v1 final",
			modules: map[string]string{"a.rego": "package vargate.tenant\n"},
			want:    "label must be",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label := tt.label
			if label == "" {
				label = "v1"
			}
			v, err := policy.Compile(t.Context(), label, tt.modules)
			if err == nil {
				t.Fatalf("Compile = %v, nil; want error containing %q", v, tt.want)
			}
			if !vargate.IsKind(err, vargate.KindInvalid) {
				t.Errorf("error kind = %v, want invalid (%v)", vargate.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name    string
		modules map[string]string
	}{
		{"no modules", map[string]string{}},
		{"helpers only", map[string]string{"h.rego": "package vargate.tenant.helpers\n\nlimit := 10\n\nbig(x) if x > limit\n"}},
		{"tests only", map[string]string{"t.rego": "package vargate.tenant.tests\n\ntest_base_denies_unknown_tools if {\n\t\"tool_not_allowed: tool \\\"x\\\" is not in the agent's allowed_tools\" in data.vargate.base.deny with input as {\"call\": {\"tool\": \"x\"}, \"agent\": {\"allowed_tools\": []}}\n}\n"}},
		{"skipped test", map[string]string{"t.rego": "package vargate.tenant.tests\n\ntodo_test_later if false\n"}},
		{"rules in a sub-package", map[string]string{"a/b.rego": "package vargate.tenant.a.b\n\ndeny contains \"x\" if input.call.tool == \"x\"\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := policy.Compile(t.Context(), "v7", tt.modules)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if v.Label != "v7" {
				t.Errorf("Label = %q, want v7", v.Label)
			}
		})
	}
}

func TestTest(t *testing.T) {
	mods := readModules(t, "testdata/tenant/policy")
	mods["z_test.rego"] = "package vargate.tenant.more\n\ntest_fails if {\n\tprint(\"looking\")\n\tfalse\n}\n"
	results, err := policy.Test(t.Context(), mods)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		s := r.Name + " " + map[bool]string{true: "PASS", false: "FAIL"}[r.Pass]
		if r.Output != "" {
			s += " output=" + strings.TrimSpace(r.Output)
		}
		got = append(got, s)
	}
	want := []string{
		"data.vargate.tenant.tests.test_small_charge_allowed PASS",
		"data.vargate.tenant.tests.test_large_charge_needs_approval PASS",
		"data.vargate.tenant.tests.test_external_recipient_denied PASS",
		"data.vargate.tenant.more.test_fails FAIL output=looking",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBaseRegoTests(t *testing.T) {
	results, err := policy.BaseTests(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no base policy tests ran")
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s %s: %s %s", r.Location, r.Name, r.Message, r.Output)
		}
	}
}
