package policy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden decision files under testdata/")

// The golden corpus: testdata/<suite>/cases/NAME.json is an input document
// and NAME.golden its expected decision (decision_id left out, it is
// random). The base suite runs against the base policy; the tenant suite
// against the modules in testdata/tenant/policy. Run with -update to
// rewrite the goldens after a deliberate policy change, and review the diff.
func TestGolden(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, nil)
	tenant, err := policy.Compile(ctx, "v1", readModules(t, "testdata/tenant/policy"))
	if err != nil {
		t.Fatalf("compile sample tenant policy: %v", err)
	}
	for _, suite := range []struct {
		dir string
		v   *policy.Version
	}{
		{"testdata/base/cases", e.Base()},
		{"testdata/tenant/cases", tenant},
	} {
		files, err := filepath.Glob(filepath.Join(suite.dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no cases in %s (%v)", suite.dir, err)
		}
		for _, file := range files {
			name := strings.TrimSuffix(file, ".json")
			t.Run(strings.TrimPrefix(name, "testdata/"), func(t *testing.T) {
				in := readInput(t, file)
				d, err := e.Evaluate(ctx, suite.v, &in)
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				if d.DecisionID == "" {
					t.Error("decision has no ID")
				}
				d.DecisionID = ""
				got, err := json.MarshalIndent(golden(d), "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				if *update {
					if err := os.WriteFile(name+".golden", got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(name + ".golden")
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("decision for %s\n got %s\nwant %s", file, got, want)
				}
			})
		}
	}
}

// golden is a Decision without its random ID.
func golden(d policy.Decision) any {
	return struct {
		Decision      string   `json:"decision"`
		Reasons       []string `json:"reasons"`
		PolicyVersion string   `json:"policy_version"`
	}{d.Decision, d.Reasons, d.PolicyVersion}
}

// readInput reads an input document. When it has no "pii" member, the
// findings and the digest are computed from the arguments the way the
// gateway does, with policy.NewCall.
func readInput(t *testing.T, file string) policy.Input {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var in policy.Input
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		t.Fatal(err)
	}
	if _, ok := members["pii"]; !ok {
		call, findings, err := policy.NewCall(in.Call.Tool, in.Call.Arguments)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		in.Call, in.PII = call, findings
	}
	return in
}

func readModules(t testing.TB, dir string) map[string]string {
	t.Helper()
	mods := map[string]string{}
	files, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mods[filepath.Base(f)] = string(src)
	}
	return mods
}
