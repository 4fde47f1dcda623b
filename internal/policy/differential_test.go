package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
)

// The differential tests decide a corpus of inputs by the engine and by
// policy.Reference (the path before the engine evaluated with topdown
// directly, built the input itself and kept its own rule cache) and
// require the same decisions: the golden cases, the engine tests' inputs
// and randomized ones, against the base policy and several tenant
// versions.

// stressTenant exercises what the sample policy does not: a partial
// object looked up by many keys (more than the engine's rule cache keeps
// in its list), `with`, numbers compared and formatted, and rules that read
// every part of the input.
const stressTenant = `package vargate.tenant

import data.vargate.base

weight[i] := i * 7 if some i in numbers.range(1, 36)

deny contains sprintf("heavy: %d keys over %v", [count(hits), input.session.calls]) if {
	hits := [i | some i in numbers.range(1, 36); weight[i] > input.session.calls]
	count(hits) > 30
}

require_approval contains "any tool would do" if {
	base.tool_allowed with input.call.tool as "not_a_tool"
	input.session.denials > 2
}

require_approval contains sprintf("old session: %v s, anomaly %v", [input.session.age_seconds, input.session.anomaly_score]) if {
	input.session.age_seconds > 3600
	input.session.anomaly_score < 0.3
}

deny contains sprintf("big amount %v (%s)", [a, base.risk]) if {
	a := input.call.arguments.amount
	a >= 1e6
}

deny contains "destructive upstream" if {
	input.call.annotations.destructive_hint
	not input.call.annotations.read_only_hint
	input.call.upstream == "prod"
}

require_approval contains sprintf("finding %s in %s", [f.kind, input.tenant.id]) if {
	some f in base.pii_findings
	input.agent.id == "agent-strict"
}

deny contains "night" if {
	[h, _, _] := time.clock(time.parse_rfc3339_ns(input.time))
	h < 2
	input.agent.delegation.depth > 0
}
`

// differentialVersions are the versions the corpus is decided against:
// name → tenant modules (nil: the base policy).
func differentialVersions(t testing.TB) map[string]map[string]string {
	return map[string]map[string]string{
		"base":   nil,
		"sample": readModules(t, "testdata/tenant/policy"),
		"amount": {"a.rego": approveOver5000, "b.rego": denyOver1000},
		"stress": {"stress.rego": stressTenant},
	}
}

type differential struct {
	engine  *policy.Engine
	version map[string]*policy.Version
	ref     map[string]*policy.Reference
	names   []string
}

func newDifferential(t testing.TB) *differential {
	t.Helper()
	ctx := context.Background()
	d := &differential{engine: newEngine(t, nil), version: map[string]*policy.Version{}, ref: map[string]*policy.Reference{}}
	for name, mods := range differentialVersions(t) {
		v := d.engine.Base()
		if mods != nil {
			var err error
			if v, err = policy.Compile(ctx, name, mods); err != nil {
				t.Fatalf("compile %s: %v", name, err)
			}
		}
		r, err := policy.NewReference(ctx, mods)
		if err != nil {
			t.Fatalf("reference %s: %v", name, err)
		}
		d.version[name], d.ref[name] = v, r
		d.names = append(d.names, name)
	}
	slices.Sort(d.names)
	return d
}

// check decides in against every version both ways.
func (d *differential) check(t testing.TB, label string, in *policy.Input) {
	t.Helper()
	ctx := context.Background()
	in.Time = in.Time.UTC() // the input document is in UTC either way
	for _, name := range d.names {
		wantDecision, wantReasons, wantErr := d.ref[name].Evaluate(ctx, in)
		got, gotErr := d.engine.Evaluate(ctx, d.version[name], in)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%s against %s: engine error %v, reference error %v\ninput %s", label, name, gotErr, wantErr, inputJSON(in))
		}
		if wantErr != nil {
			continue // the engine fails closed; the reference has no decision
		}
		if got.Decision != wantDecision || !slices.Equal(got.Reasons, wantReasons) || got.PolicyVersion != d.version[name].Label {
			t.Fatalf("%s against %s:\n engine    %s %q (%s)\n reference %s %q\ninput %s",
				label, name, got.Decision, got.Reasons, got.PolicyVersion, wantDecision, wantReasons, inputJSON(in))
		}
	}
	// The input the engine builds is the JSON document's value.
	got, err := policy.InputValue(in)
	if err != nil {
		t.Fatalf("%s: InputValue: %v", label, err)
	}
	want, err := ast.ValueFromReader(strings.NewReader(inputJSON(in)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Compare(want) != 0 {
		t.Fatalf("%s: input value\n got %v\nwant %v", label, got, want)
	}
}

func inputJSON(in *policy.Input) string {
	b, err := json.Marshal(in)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestDifferentialCorpus(t *testing.T) {
	d := newDifferential(t)
	files, err := filepath.Glob("testdata/*/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases (%v)", err)
	}
	for _, file := range files {
		in := readInput(t, file)
		d.check(t, file, &in)
	}
	for _, amount := range []any{1, 999, 1000, 1001, 5000, 5001, 1e6, 2.5e9, "ten", nil, -1, 0.5} {
		d.check(t, fmt.Sprintf("charge %v", amount), chargeInput(t, "t1", amount))
	}
	n := 400
	if testing.Short() {
		n = 50
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		in := randomInput(t, rng)
		d.check(t, fmt.Sprintf("random %d", i), in)
	}
}

// randomInput builds an input from the vocabulary the policies react
// to: tools and patterns that match or not, personal data and secrets in
// the arguments, risk levels known and unknown, counters on both sides
// of every threshold.
func randomInput(t testing.TB, rng *rand.Rand) *policy.Input {
	t.Helper()
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	tools := []string{"vargate_web_search", "vargate_send_email", "vargate_create_charge", "vargate_read_database",
		"github__repos.list", "github__issues.create", "bench_write_x", "mailer", "research_search", "", "x"}
	patterns := []string{"vargate_send_*", "github__*", "*", "vargate_*", "bench_write_*", "*.list", "github__repos.?ist", "[ab]*"}
	var allowed, approval []string
	for range rng.IntN(4) {
		allowed = append(allowed, pick(append(tools, patterns...)...))
	}
	for range rng.IntN(3) {
		approval = append(approval, pick(patterns...))
	}
	values := []string{
		`"ada@example.com"`, `"eve@evil.test"`, `["bob@example.com", "eve@evil.test"]`, `"4111 1111 1111 1111"`,
		`"DE89370400440532013000"`, `"078-05-1120"`, `"+1 415 555 0100"`, `"10.1.2.3"`, `"AKIAIOSFODNN7EXAMPLE"`,
		`"sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`, `"hello"`, `12`, `5000.5`, `1e7`, `-3`,
		`true`, `null`, `{"nested": "ada@example.com"}`, `[1, 2.50, "x"]`, `"\u00e9t\u00e9"`,
	}
	fields := []string{"to", "cc", "from", "body", "query", "amount", "text", "note"}
	args := map[string]json.RawMessage{}
	for range rng.IntN(4) {
		args[pick(fields...)] = json.RawMessage(pick(values...))
	}
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	call, findings, err := policy.NewCall(pick(tools...), raw)
	if err != nil {
		t.Fatal(err)
	}
	if rng.IntN(3) == 0 {
		call.Upstream = pick("prod", "github", "stage")
		call.Annotations = &policy.Annotations{ReadOnly: rng.IntN(2) == 0, Destructive: rng.IntN(2) == 0,
			Idempotent: rng.IntN(2) == 0, OpenWorld: rng.IntN(2) == 0}
	}
	if rng.IntN(8) == 0 {
		findings = append(findings, pii.Finding{Kind: pii.Kind(pick("card", "iban", "ssn", "email", "phone", "ip", "secret")),
			Detector: "extra", Path: "$.x", Field: pick("to", "x", "")})
	}
	numbers := []float64{0, 0.1, 0.29999, 0.3, 0.4, 0.5, 0.79, 0.8, 0.9, 1, 3, 512, 513, 3600.5, 7200, 1e-9}
	agent := policy.Agent{
		ID:                   pick("agent-1", "agent-strict"),
		AllowedTools:         allowed,
		RequireHumanApproval: approval,
		GovernanceProfile: policy.GovernanceProfile{RiskLevel: pick("", "strict", "standard", "permissive", "paranoid"),
			PIIDetection: rng.IntN(4) != 0},
		Delegation: policy.Delegation{Depth: rng.IntN(4), MaxDepth: rng.IntN(3)},
	}
	if rng.IntN(2) == 0 {
		agent.Prepare()
	}
	return &policy.Input{
		Tenant: policy.Tenant{ID: pick("t1", "t2")},
		Agent:  agent,
		Session: policy.Session{ID: "vs-1", AgeSeconds: numbers[rng.IntN(len(numbers))], Calls: rng.IntN(60),
			Denials: rng.IntN(5), AnomalyScore: numbers[rng.IntN(10)]},
		Call: call,
		PII:  findings,
		Time: time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(24 * time.Hour)))),
	}
}

// FuzzDifferential decides fuzzed calls by the engine and the reference
// path; the seeds are random inputs of the corpus's kind.
func FuzzDifferential(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		in := randomInput(f, rng)
		risk := in.Agent.GovernanceProfile.RiskLevel
		f.Add(in.Call.Tool, []byte(in.Call.Arguments), strings.Join(in.Agent.AllowedTools, ","), strings.Join(in.Agent.RequireHumanApproval, ","),
			risk, in.Session.AnomalyScore, in.Session.AgeSeconds, in.Session.Calls, in.Agent.Delegation.Depth, in.Call.Upstream)
	}
	d := newDifferential(f)
	f.Fuzz(func(t *testing.T, tool string, args []byte, allowed, approval, risk string, anomaly, age float64, calls, depth int, upstream string) {
		for _, s := range []string{tool, allowed, approval, risk, upstream} {
			if !utf8.ValidString(s) {
				// The JSON document, which the reference path reads, has
				// U+FFFD where the engine sees the bytes (as it did before).
				t.Skip()
			}
		}
		call, findings, err := policy.NewCall(tool, args)
		if err != nil {
			t.Skip() // not a JSON object: the gateway refuses it before the policy
		}
		var obj map[string]any
		if json.Unmarshal(call.Arguments, &obj) != nil {
			t.Skip()
		}
		call.Upstream = upstream
		if upstream != "" {
			call.Annotations = &policy.Annotations{Destructive: true, OpenWorld: true}
		}
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		in := &policy.Input{
			Tenant: policy.Tenant{ID: "t1"},
			Agent: policy.Agent{ID: "agent-1", AllowedTools: split(allowed), RequireHumanApproval: split(approval),
				GovernanceProfile: policy.GovernanceProfile{RiskLevel: risk, PIIDetection: true},
				Delegation:        policy.Delegation{Depth: depth, MaxDepth: 1}},
			Session: policy.Session{ID: "vs-1", AgeSeconds: age, Calls: calls, AnomalyScore: anomaly},
			Call:    call,
			PII:     findings,
			Time:    time.Date(2026, 4, 11, 10, 0, 0, 0, time.UTC),
		}
		if _, err := json.Marshal(in); err != nil {
			t.Skip() // NaN or infinity: no JSON document, never an input
		}
		d.check(t, "fuzz", in)
	})
}

// TestVirtualCacheMatchesOPA applies random operations to the engine's
// rule cache and to OPA's and requires the same answers, across the
// hand-over to OPA's cache when the list is full.
func TestVirtualCacheMatchesOPA(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	refs := make([]ast.Ref, 0, 120)
	for i := range 60 {
		refs = append(refs,
			ast.MustParseRef(fmt.Sprintf("data.vargate.base.r%d", i%40)),
			ast.MustParseRef(fmt.Sprintf("data.vargate.tenant.weight[\"k%d\"]", i)))
	}
	refs = append(refs, ast.MustParseRef("data.a.b.c.d.e.f.g.h")) // longer than the short copy
	for round := range 200 {
		ours, opa := policy.NewVirtualCache(), topdown.NewVirtualCache()
		depth := 0
		for op := range 40 + rng.IntN(200) {
			ref := refs[rng.IntN(len(refs))]
			// The evaluator reuses its ref buffers: the caches must copy.
			buf := slices.Clone(ref)
			switch r := rng.IntN(10); {
			case r < 4:
				var v *ast.Term
				if rng.IntN(4) != 0 {
					v = ast.IntNumberTerm(rng.IntN(1000))
				}
				ours.Put(buf, v)
				opa.Put(ref, v)
				for i := range buf {
					buf[i] = ast.StringTerm("clobbered")
				}
			case r < 5:
				ours.Push()
				opa.Push()
				depth++
			case r < 6 && depth > 0:
				ours.Pop()
				opa.Pop()
				depth--
			default:
				gv, gu := ours.Get(ref)
				wv, wu := opa.Get(ref)
				if gu != wu || (gv == nil) != (wv == nil) || (gv != nil && !gv.Equal(wv)) {
					t.Fatalf("round %d op %d: Get(%v) = %v, %v; OPA's = %v, %v", round, op, ref, gv, gu, wv, wu)
				}
			}
		}
		got, want := refStrings(ours.Keys()), refStrings(opa.Keys())
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: Keys = %v, OPA's = %v", round, got, want)
		}
	}
}

func refStrings(refs []ast.Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.String()
	}
	slices.Sort(out)
	return out
}
