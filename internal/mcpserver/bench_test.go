package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/tools"
)

// The benchmarks send tools/call as a 2026-07-28 client does: one POST per
// call, answered on an SSE stream, over keep-alive connections. The
// governed endpoint runs the whole pipeline (auth, config, schema, PII,
// policy, no-op connector, durable audit append) against a real store;
// the bare one is the same SDK handler with a no-op tool and nothing else.

const benchTool = tools.WebSearch

var callBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + benchTool + `","arguments":{"query":"enterprise AI governance"},` +
	`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`)

// target is an endpoint under test.
type target struct {
	url, token string
	client     *http.Client
	gw         *gateway // nil for the bare server
}

func (tg target) call(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "POST", tg.url, bytes.NewReader(callBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", benchTool)
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	resp, err := tg.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"result"`)) || bytes.Contains(b, []byte(`"isError":true`)) {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}}
}

// bareTarget is the SDK's stateless handler with one no-op tool of the
// same schema, no authentication and no governance.
func bareTarget(tb testing.TB) target {
	srv := mcp.NewServer(&mcp.Implementation{Name: "bare", Version: "1"}, &mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}})
	schema, _ := jsonschema.For[tools.WebSearchInput](nil)
	srv.AddTool(&mcp.Tool{Name: benchTool, InputSchema: schema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}}, StructuredContent: map[string]any{"ok": true}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, DisableLocalhostProtection: true})
	ts := httptest.NewServer(h)
	tb.Cleanup(ts.Close)
	return target{url: ts.URL, client: newClient()}
}

func governedTarget(tb testing.TB, d sqlstore.Dialect) target {
	g := newGateway(tb, gatewayOptions{dialect: d, noop: true, configure: func(s *mcpserver.Server) {
		s.AuthCacheTTL = 0 // the production default
	}})
	return target{url: g.url, token: g.acme.AgentKey, client: newClient(), gw: g}
}

func targets(b *testing.B) map[string]func(testing.TB) target {
	return map[string]func(testing.TB) target{
		"bare":     bareTarget,
		"sqlite":   func(tb testing.TB) target { return governedTarget(tb, sqlstore.SQLite) },
		"postgres": func(tb testing.TB) target { return governedTarget(tb, sqlstore.Postgres) },
		// The same gateway with every request answered by the SDK (the
		// fast path off), for comparison.
		"sqlite-sdk": func(tb testing.TB) target {
			tg := governedTarget(tb, sqlstore.SQLite)
			mcpserver.SetFastPath(tg.gw.server, false)
			return tg
		},
	}
}

// BenchmarkGovernedCall measures calls per second with 64 concurrent
// callers.
func BenchmarkGovernedCall(b *testing.B) {
	for _, name := range []string{"bare", "sqlite", "sqlite-sdk", "postgres"} {
		b.Run(name, func(b *testing.B) {
			tg := targets(b)[name](b)
			if err := tg.call(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(4) // × GOMAXPROCS callers: enough to keep the CPUs busy and batch audit commits
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tg.call(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			// CPU per call (this process: server and client) does not
			// depend on what else the machine runs, unlike calls/s.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}

// TestLatencyAtRate sends calls at a fixed rate (open loop; 1,000/s or
// VARGATE_BENCH_RATE) to the bare and the governed endpoints and reports
// p50/p99 latency and what governance adds. It measures, so it runs only
// with VARGATE_BENCH=1:
//
//	VARGATE_BENCH=1 go test ./internal/mcpserver -run TestLatencyAtRate -v
func TestLatencyAtRate(t *testing.T) {
	if os.Getenv("VARGATE_BENCH") != "1" {
		t.Skip("set VARGATE_BENCH=1 to measure")
	}
	rate, dur := 1000, 5*time.Second
	if v, err := strconv.Atoi(os.Getenv("VARGATE_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	results := map[string][2]time.Duration{}
	for _, name := range []string{"bare", "sqlite", "postgres"} {
		tg := map[string]func(testing.TB) target{
			"bare":     bareTarget,
			"sqlite":   func(tb testing.TB) target { return governedTarget(tb, sqlstore.SQLite) },
			"postgres": func(tb testing.TB) target { return governedTarget(tb, sqlstore.Postgres) },
		}[name](t)
		// Warm up connections, caches and the policy.
		for range 200 {
			if err := tg.call(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		lat, errs, first := openLoop(tg, rate, dur)
		if errs > 0 {
			t.Errorf("%s: %d failed calls; the first: %v", name, errs, first)
		}
		p50, p99 := pct(lat, 50), pct(lat, 99)
		results[name] = [2]time.Duration{p50, p99}
		t.Logf("%-8s %d calls at %d/s: p50 %v  p99 %v", name, len(lat), rate, p50, p99)
		if tg.gw != nil {
			// The pipeline's own time, as each audit record states it
			// (everything but the wait for the audit commit).
			var pipe, pol []time.Duration
			for _, r := range tg.gw.records(t, tg.gw.acme.ID, audit.SourceMCPGoverned) {
				var d struct {
					Latency struct{ Policy, Total int64 } `json:"latency_us"`
				}
				if json.Unmarshal(r.Detail, &d) == nil {
					pipe = append(pipe, time.Duration(d.Latency.Total)*time.Microsecond)
					pol = append(pol, time.Duration(d.Latency.Policy)*time.Microsecond)
				}
			}
			t.Logf("%-8s pipeline before the audit commit: p50 %v  p99 %v (policy p50 %v  p99 %v)", name, pct(pipe, 50), pct(pipe, 99), pct(pol, 50), pct(pol, 99))
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Logf("added by governance (%s): p50 %v  p99 %v", name, results[name][0]-results["bare"][0], results[name][1]-results["bare"][1])
	}
}

// openLoop starts one call every 1/rate for dur, whatever the previous
// calls are doing, and returns each call's latency.
func openLoop(tg target, rate int, dur time.Duration) ([]time.Duration, int, error) {
	var (
		mu    sync.Mutex
		lat   []time.Duration
		errs  atomic.Int64
		first error
		wg    sync.WaitGroup
	)
	interval := time.Second / time.Duration(rate)
	n := int(dur / interval)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // open-loop pacing: the schedule is the load being measured
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			err := tg.call(context.Background())
			d := time.Since(t0)
			if err != nil {
				if errs.Add(1) == 1 {
					mu.Lock()
					first = err
					mu.Unlock()
				}
				return
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, int(errs.Load()), first
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
