package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyTest(t *testing.T) {
	good := filepath.Join("..", "..", "internal", "policy", "testdata", "tenant", "policy")
	withFailure := t.TempDir()
	writePolicyFile(t, filepath.Join(withFailure, "a.rego"), "package vargate.tenant\n\ndeny contains \"x\" if input.call.tool == \"x\"\n")
	writePolicyFile(t, filepath.Join(withFailure, "tests", "a_test.rego"),
		"package vargate.tenant.tests\n\ntest_denies_x if \"x\" in data.vargate.tenant.deny with input as {\"call\": {\"tool\": \"x\"}}\n\n"+
			"test_wrong if {\n\tprint(\"checking y\")\n\t\"x\" in data.vargate.tenant.deny with input as {\"call\": {\"tool\": \"y\"}}\n}\n")
	wrongPackage := t.TempDir()
	writePolicyFile(t, filepath.Join(wrongPackage, "a.rego"), "package acme\n\nx := 1\n")

	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantStdout []string
	}{
		{"passing", []string{"policy", "test", good}, "", []string{"PASS: 3/3\n"}},
		{"verbose", []string{"policy", "test", "-v", good}, "", []string{"PASS policy_test.rego:12 data.vargate.tenant.tests.test_small_charge_allowed"}},
		{"failing test", []string{"policy", "test", withFailure}, "1 of 2 policy tests failed",
			[]string{"FAIL tests/a_test.rego:5 data.vargate.tenant.tests.test_wrong", "| checking y", "PASS: 1/2\nFAIL: 1/2\n"}},
		{"rejected module", []string{"policy", "test", wrongPackage}, "package acme is not allowed", nil},
		{"no directory", []string{"policy", "test"}, "usage", nil},
		{"empty directory", []string{"policy", "test", t.TempDir()}, "no .rego files", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &environment{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
			err := run(t.Context(), env, tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run error = %v, want one containing %q", err, tt.wantErr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func writePolicyFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
