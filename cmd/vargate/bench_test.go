package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/loadgen"
	"github.com/vargate/vargate/internal/policy"
)

func TestBenchAgainstGateway(t *testing.T) {
	g := startServe(t, map[string]string{"VARGATE_BENCH_TOOLS": "true"})
	var out bytes.Buffer
	env := &environment{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, getenv: func(string) string { return "" }}
	err := run(t.Context(), env, []string{"bench", "--url", g.URL, "--api-key", g.Key, "--duration", "500ms", "--warmup", "100ms",
		"--concurrency", "4", "--mix", "allowed=2,denied=1,approval=1", "--compare", "bare", "--json"})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	if rep.Calls == 0 || rep.Errors != 0 || rep.Throughput <= 0 || rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 {
		t.Errorf("governed figures: %+v", rep.targetFigures)
	}
	for _, o := range []string{"executed", "denied", "pending_approval"} {
		if rep.Outcomes[o] == 0 {
			t.Errorf("no %s call among %v", o, rep.Outcomes)
		}
	}
	if b := rep.Compare["bare"]; b == nil || b.Calls == 0 || b.Errors != 0 || b.Outcomes["executed"] != b.Calls {
		t.Errorf("bare figures: %+v", b)
	}
	if rep.Ratios == nil || rep.Ratios.ThroughputVsBare <= 0 || rep.Ratios.AddedLatency == nil {
		t.Errorf("ratios: %+v", rep.Ratios)
	}
	// The bench removed what it made: its agent key no longer works.
	code, body := g.do(t, "GET", "/api/keys", g.Key, "")
	if code != 200 {
		t.Fatalf("list keys: %d %v", code, body)
	}
	for _, k := range body["keys"].([]any) {
		k := k.(map[string]any)
		if strings.HasPrefix(k["name"].(string), "vargate-bench-") && k["revoked_at"] == nil {
			t.Errorf("bench key left active: %v", k)
		}
	}
}

// TestSidecarDecidesLikeTheEngine checks the comparison mode: OPA's own
// server with the base policy, asked over HTTP, reaches the embedded
// engine's decisions.
func TestSidecarDecidesLikeTheEngine(t *testing.T) {
	opa, err := loadgen.StartOPA(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer opa.Close()
	engine, err := policy.NewEngine(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	engine.Timeout = 10 * time.Second
	sidecar := newSidecarDecider(opa.DecisionURL)
	sidecar.timeout = 10 * time.Second
	agent := policy.Agent{ID: "agent-1", AllowedTools: []string{"vargate_noop", "bench_write"}, RequireHumanApproval: []string{"bench_*"},
		GovernanceProfile: policy.GovernanceProfile{RiskLevel: "standard", PIIDetection: true}, Delegation: policy.Delegation{MaxDepth: 1}}
	for _, tc := range []struct {
		tool, args, want string
	}{
		{"vargate_noop", `{"text":"status"}`, policy.Allow},
		{"vargate_web_search", `{"query":"x"}`, policy.Deny},
		{"bench_write", `{"text":"refund"}`, policy.RequireApproval},
	} {
		call, findings, err := policy.NewCall(tc.tool, json.RawMessage(tc.args))
		if err != nil {
			t.Fatal(err)
		}
		in := func() *policy.Input {
			return &policy.Input{Tenant: policy.Tenant{ID: "t1"}, Agent: agent, Call: call, PII: findings, Time: time.Now()}
		}
		want, err := engine.Decide(t.Context(), in())
		if err != nil {
			t.Fatal(err)
		}
		got, err := sidecar.Decide(t.Context(), in())
		if err != nil {
			t.Fatal(err)
		}
		if got.Decision != tc.want || want.Decision != tc.want || strings.Join(got.Reasons, ";") != strings.Join(want.Reasons, ";") {
			t.Errorf("%s: sidecar %s %v, engine %s %v, want %s", tc.tool, got.Decision, got.Reasons, want.Decision, want.Reasons, tc.want)
		}
		if got.DecisionID == "" || got.PolicyVersion != policy.BaseLabel {
			t.Errorf("%s: decision ID %q, version %q", tc.tool, got.DecisionID, got.PolicyVersion)
		}
	}
	// No sidecar: the call is denied, with the cause for the log.
	down := newSidecarDecider("http://127.0.0.1:1/v1/data/vargate/base/result")
	d, err := down.Decide(t.Context(), &policy.Input{Tenant: policy.Tenant{ID: "t1"}, Agent: agent})
	if err == nil || d.Decision != policy.Deny {
		t.Errorf("unreachable sidecar: %s %v, want a deny and an error", d.Decision, err)
	}
}
