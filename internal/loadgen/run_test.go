package loadgen_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/loadgen"
)

func bareTarget(t *testing.T) loadgen.Target {
	t.Helper()
	ts := httptest.NewServer(loadgen.NewBareHandler("read", "vargate_web_search", "write"))
	t.Cleanup(ts.Close)
	return loadgen.Target{Name: "bare", URL: ts.URL}
}

func TestRunClosedLoopAgainstBareServer(t *testing.T) {
	mix, err := loadgen.ToolMix("read", "vargate_web_search", "write", 8, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The run ends once each kind of the mix was measured (a busy machine
	// may fit only a few calls into any fixed duration); the minute is a
	// bound only.
	var (
		mu   sync.Mutex // OnResult runs on the client goroutines
		seen = map[loadgen.Kind]bool{}
		stop = make(chan struct{})
	)
	rep, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: bareTarget(t), Mix: mix, Concurrency: 4, Duration: time.Minute, Warmup: 50 * time.Millisecond, Stop: stop,
		OnResult: func(r loadgen.Result) {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) < 3 {
				if seen[r.Kind] = true; len(seen) == 3 {
					close(stop)
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Calls == 0 || rep.Errors != 0 {
		t.Fatalf("calls %d errors %d (%s), want some calls and no errors", rep.Calls, rep.Errors, rep.FirstError)
	}
	if got := rep.Outcomes[loadgen.OutcomeExecuted]; got != rep.Calls {
		t.Errorf("executed %d of %d calls; outcomes %v", got, rep.Calls, rep.Outcomes)
	}
	if got := int64(rep.Latency.Count()); got != rep.Calls {
		t.Errorf("latency histogram holds %d values, want %d", got, rep.Calls)
	}
	// Every kind of the mix was sent.
	for _, k := range []loadgen.Kind{loadgen.Allowed, loadgen.Denied, loadgen.Approval} {
		if rep.ByKind[k][loadgen.OutcomeExecuted] == 0 {
			t.Errorf("no %s call in %v", k, rep.ByKind)
		}
	}
}

func TestRunFixedRateSchedulesEveryCall(t *testing.T) {
	mix, err := loadgen.ToolMix("read", "vargate_web_search", "write", 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: bareTarget(t), Mix: mix, Concurrency: 8, Rate: 200, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 200/s for 0.5 s is 100 calls, answered or reported unsent.
	if got := rep.Calls + rep.Unsent; got != 100 {
		t.Errorf("calls %d + unsent %d = %d, want 100", rep.Calls, rep.Unsent, got)
	}
	if rep.Errors != 0 {
		t.Errorf("%d errors: %s", rep.Errors, rep.FirstError)
	}
}

func TestRunReportsErrors(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Mcp-Name") {
		case "rpcerr":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":\"unknown tool\"}}\n\n"))
		case "pending":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[],"_meta":{"ai.vargate/outcome":"pending_approval","ai.vargate/action_id":"a-1"}}}`))
		default:
			http.Error(w, "no", http.StatusUnauthorized)
		}
	}))
	defer ts.Close()
	for _, tc := range []struct {
		tool   string
		want   loadgen.Outcome
		action string
	}{
		{"rpcerr", loadgen.OutcomeError, ""},
		{"pending", loadgen.OutcomePending, "a-1"},
		{"other", loadgen.OutcomeError, ""},
	} {
		mix, err := loadgen.ToolMix(tc.tool, "", "", 1, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var last atomic.Pointer[loadgen.Result] // OnResult runs on the client goroutines
		rep, err := loadgen.Run(t.Context(), loadgen.Options{
			Target: loadgen.Target{URL: ts.URL}, Mix: mix, Rate: 100, Duration: 10 * time.Millisecond,
			OnResult: func(r loadgen.Result) { last.Store(&r) },
		})
		if err != nil {
			t.Fatal(err)
		}
		var got loadgen.Result
		if p := last.Load(); p != nil {
			got = *p
		}
		if got.Outcome != tc.want || got.ActionID != tc.action || rep.Outcomes[tc.want] != 1 {
			t.Errorf("%s: outcome %q action %q (%v), want %q %q", tc.tool, got.Outcome, got.ActionID, got.Err, tc.want, tc.action)
		}
		if tc.want == loadgen.OutcomeError && (rep.Errors != 1 || rep.FirstError == "") {
			t.Errorf("%s: errors %d first %q", tc.tool, rep.Errors, rep.FirstError)
		}
	}
}

// TestRunFixedRateCountsTheWaitBehindAStall checks the coordinated
// omission correction: with one client at 100 calls/s, a call that stalls
// the server for 300 ms holds up the ~20 calls due meanwhile, and each of
// them is charged from its intended start, so at least 15 calls take
// 100 ms or more (only one would, timed from the send). Only lower bounds
// are checked, which a slow machine cannot break.
func TestRunFixedRateCountsTheWaitBehindAStall(t *testing.T) {
	bare := loadgen.NewBareHandler("read", "vargate_web_search", "write")
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 10 { // one client: requests arrive one at a time
			time.Sleep(300 * time.Millisecond) // the stall under test, not a wait
		}
		bare.ServeHTTP(w, r)
	}))
	defer ts.Close()
	mix, err := loadgen.ToolMix("read", "", "", 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Int32 // OnResult runs on the client goroutines
	rep, err := loadgen.Run(t.Context(), loadgen.Options{
		Target: loadgen.Target{URL: ts.URL}, Mix: mix, Concurrency: 1, Rate: 100, Duration: time.Second,
		OnResult: func(r loadgen.Result) {
			if r.Latency >= 100*time.Millisecond {
				slow.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 0 {
		t.Fatalf("%d errors: %s", rep.Errors, rep.FirstError)
	}
	if slow.Load() < 15 {
		t.Errorf("%d calls of %d took ≥ 100 ms from their intended start, want ≥ 15", slow.Load(), rep.Calls)
	}
	if rep.Latency.Quantile(0.99) < 100*time.Millisecond {
		t.Errorf("p99 %v, want ≥ 100 ms", rep.Latency.Quantile(0.99))
	}
}
