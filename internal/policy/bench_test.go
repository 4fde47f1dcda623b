package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/testwait"
)

// benchInput is a typical governed call: an e-mail with recipients (an
// expected e-mail finding) that needs approval by pattern.
func benchInput(b *testing.B) *policy.Input {
	b.Helper()
	call, findings, err := policy.NewCall("vargate_send_email", json.RawMessage(
		`{"to":["ada@example.com"],"subject":"Weekly summary","body":"Hi Ada, the summary of this week's research is attached."}`))
	if err != nil {
		b.Fatal(err)
	}
	return &policy.Input{
		Tenant: policy.Tenant{ID: "tenant-xyz"},
		Agent: policy.Agent{
			ID:                   "agent-a1b2c3d4e5f6",
			AllowedTools:         []string{"vargate_web_search", "vargate_send_email", "vargate_read_database"},
			RequireHumanApproval: []string{"vargate_send_*"},
			GovernanceProfile:    policy.GovernanceProfile{RiskLevel: "standard", PIIDetection: true},
			Delegation:           policy.Delegation{Depth: 0, MaxDepth: 1},
		},
		Session: policy.Session{ID: "vs-a1b2c3d4e5f6g7h8", AgeSeconds: 420, Calls: 5, AnomalyScore: 0.1},
		Call:    call,
		PII:     findings,
		Time:    time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC),
	}
}

const benchWant = `human_approval_required: tool "vargate_send_email" matches require_human_approval pattern "vargate_send_*"`

// measure runs decide b.N times and reports decisions per second and the
// median and 99th-percentile latency of one decision.
func measure(b *testing.B, decide func() (policy.Decision, error)) {
	b.Helper()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		d, err := decide()
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if d.Decision != policy.RequireApproval || len(d.Reasons) != 1 || d.Reasons[0] != benchWant {
			b.Fatalf("unexpected decision %+v", d)
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(float64(len(lat))/cpu.Seconds(), "decisions/cpu-s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// cpuTime is the CPU time the process has used so far, user and system,
// all threads: on a shared machine, decisions per CPU-second is steadier
// than decisions per wall-clock second.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecide compares the embedded engine with the sidecar design: the
// same base policy in an OPA server, queried over loopback HTTP with a
// keep-alive client (the input marshalled to JSON and the result parsed,
// as the gateway would have to). Run with -cpu 1 to measure one core; both
// the client and the OPA server then share it.
func BenchmarkDecide(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		e, err := policy.NewEngine(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		e.Timeout = time.Minute // a loaded machine is no policy timeout
		in := benchInput(b)
		measure(b, func() (policy.Decision, error) { return e.Decide(context.Background(), in) })
	})
	b.Run("embedded-from-json", func(b *testing.B) {
		// As replay does: the recorded JSON input is read back first.
		e, err := policy.NewEngine(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		e.Timeout = time.Minute
		raw, err := json.Marshal(benchInput(b))
		if err != nil {
			b.Fatal(err)
		}
		measure(b, func() (policy.Decision, error) {
			var in policy.Input
			if err := json.Unmarshal(raw, &in); err != nil {
				return policy.Decision{}, err
			}
			return e.Evaluate(context.Background(), e.Base(), &in)
		})
	})
	b.Run("sidecar-http", func(b *testing.B) {
		url := startOPAServer(b)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		in := benchInput(b)
		measure(b, func() (policy.Decision, error) { return sidecarDecide(client, url, in) })
	})
}

// BenchmarkNewCall measures what the gateway does per call before the
// decision: parse the arguments, digest them and scan them for PII.
func BenchmarkNewCall(b *testing.B) {
	args := json.RawMessage(`{"to":["ada@example.com"],"subject":"Weekly summary","body":"Hi Ada, the summary of this week's research is attached."}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := policy.NewCall("vargate_send_email", args); err != nil {
			b.Fatal(err)
		}
	}
}

// startOPAServer runs OPA's own HTTP server in-process on 127.0.0.1:0 with
// the base policy, and returns the URL of the decision.
func startOPAServer(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	store := inmem.New()
	m, err := plugins.New([]byte("{}"), "bench", store, plugins.ConsoleLogger(logging.NewNoOpLogger()))
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New().
		WithStore(store).
		WithManager(m).
		WithAddresses([]string{"127.0.0.1:0"}).
		Init(ctx)
	if err != nil {
		b.Fatal(err)
	}
	loops, err := srv.Listeners()
	if err != nil {
		b.Fatal(err)
	}
	for _, loop := range loops {
		go func() { _ = loop() }() // returns http.ErrServerClosed at Shutdown
	}
	b.Cleanup(func() {
		_ = srv.Shutdown(ctx)
		m.Stop(ctx)
	})
	// The loops bind their listeners as they start.
	testwait.For(b, 10*time.Second, "the OPA server to listen", func() bool { return len(srv.Addrs()) > 0 })
	base := "http://" + srv.Addrs()[0]

	src, err := os.ReadFile("rego/base.rego")
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, base+"/v1/policies/base", bytes.NewReader(src))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("upload base policy: %s: %s", resp.Status, body)
	}
	return base + "/v1/data/vargate/base/result"
}

// sidecarDecide makes the decision through the OPA server.
func sidecarDecide(client *http.Client, url string, in *policy.Input) (policy.Decision, error) {
	body, err := json.Marshal(struct {
		Input *policy.Input `json:"input"`
	}{in})
	if err != nil {
		return policy.Decision{}, err
	}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return policy.Decision{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Deny            []string `json:"deny"`
			RequireApproval []string `json:"require_approval"`
		} `json:"result"`
		DecisionID string `json:"decision_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return policy.Decision{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return policy.Decision{}, fmt.Errorf("opa: %s", resp.Status)
	}
	d := policy.Decision{PolicyVersion: policy.BaseLabel, DecisionID: out.DecisionID}
	switch {
	case len(out.Result.Deny) > 0:
		d.Decision, d.Reasons = policy.Deny, out.Result.Deny
	case len(out.Result.RequireApproval) > 0:
		d.Decision, d.Reasons = policy.RequireApproval, out.Result.RequireApproval
	default:
		d.Decision, d.Reasons = policy.Allow, []string{}
	}
	return d, nil
}

// BenchmarkDecideGateway decides calls as the gateway does (an agent
// prepared once, its configuration, the govern benchmark's arguments)
// and reports the CPU time per decision, garbage collection included.
func BenchmarkDecideGateway(b *testing.B) {
	for _, bc := range []struct{ name, tool, args, want string }{
		{"allow", "vargate_web_search", `{"query":"enterprise AI governance frameworks","max_results":5}`, policy.Allow},
		{"deny", "vargate_web_search", `{"query":"AKIAIOSFODNN7EXAMPLE"}`, policy.Deny},
		{"approval", "vargate_send_email", `{"to":"bob@example.com","subject":"Report","body":"Please find the summary below."}`, policy.RequireApproval},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := policy.NewEngine(b.Context(), nil)
			if err != nil {
				b.Fatal(err)
			}
			e.Timeout = time.Minute
			agent := policy.Agent{
				ID: "agent-a1", AllowedTools: []string{"vargate_web_search", "vargate_send_email"},
				RequireHumanApproval: []string{"vargate_send_*"},
				GovernanceProfile:    policy.GovernanceProfile{RiskLevel: "standard", PIIDetection: true},
				Delegation:           policy.Delegation{MaxDepth: 1},
			}
			agent.Prepare()
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				call, findings, err := policy.NewCall(bc.tool, json.RawMessage(bc.args))
				if err != nil {
					b.Fatal(err)
				}
				in := &policy.Input{
					Tenant: policy.Tenant{ID: "tenant-1"}, Agent: agent,
					Session: policy.Session{ID: "vs-1", AgeSeconds: 12.5, Calls: 7, AnomalyScore: 0.1},
					Call:    call, PII: findings, Time: time.Now(),
				}
				d, err := e.Decide(context.Background(), in)
				if err != nil || d.Decision != bc.want {
					b.Fatalf("%+v %v", d, err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
		})
	}
}
