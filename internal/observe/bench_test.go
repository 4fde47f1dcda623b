package observe_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/testwait"
)

// cpuTime returns the process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEvents is the number of events of one benchmarked session.
const benchEvents = 20000

// benchCommands are the benign shell commands of the anomaly corpus: the
// bash inputs of the benchmarked tool calls.
func benchCommands(b *testing.B) []string {
	b.Helper()
	f, err := os.Open("../anomaly/testdata/shell_benign.txt")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// benchStream returns the SSE body of a session of n events ending with
// session.status_terminated. With toolsOnly, every event is a tool use or
// a tool result; otherwise each tool call comes with a model request span
// pair, as on the real stream (4 events per call).
func benchStream(b *testing.B, n int, toolsOnly bool) ([]byte, int) {
	cmds := benchCommands(b)
	var buf bytes.Buffer
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	seq := 0
	emit := func(typ string, fields map[string]any) string {
		seq++
		id := fmt.Sprintf("sevt_%08d", seq)
		fields["id"], fields["type"], fields["processed_at"] = id, typ, at.Add(time.Duration(seq)*time.Millisecond)
		data, _ := json.Marshal(fields)
		fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", typ, data)
		return id
	}
	for i := 0; seq < n-1; i++ {
		if !toolsOnly {
			emit("span.model_request_start", map[string]any{})
		}
		use := emit("agent.tool_use", map[string]any{
			"name": "bash", "input": map[string]any{"command": cmds[i%len(cmds)]},
			"evaluated_permission": "allow", "evaluation": map[string]any{"type": "always_allow"}, "session_thread_id": nil,
		})
		if !toolsOnly {
			emit("span.model_request_end", map[string]any{"is_error": false, "model_usage": map[string]any{"input_tokens": 1200, "output_tokens": 80}})
		}
		emit("agent.tool_result", map[string]any{
			"tool_use_id": use, "is_error": false,
			"content": []map[string]any{{"type": "text", "text": "ok  \texample.com/demo\t0.012s\nPASS"}},
		})
	}
	emit("session.status_terminated", map[string]any{})
	return buf.Bytes(), seq
}

// benchUpstream serves one session's stream (the whole body at once) and
// an empty history.
func benchUpstream(body []byte) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sessions/{id}/events/stream", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /v1/sessions/{id}/events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[],"next_page":null}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"error","error":{"type":"not_found_error","message":"not found"}}`))
	})
	return httptest.NewServer(mux)
}

// BenchmarkConsumer measures events per second through the consumer: the
// SDK's SSE decoding, parsing, anomaly scoring of every bash call, the
// batch transaction (events once, tool uses, progress) and one durable
// mcp_observed audit record per tool call (group-committed, fsynced).
func BenchmarkConsumer(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		for _, toolsOnly := range []bool{false, true} {
			name := string(d) + "/mixed"
			if toolsOnly {
				name = string(d) + "/tools-only"
			}
			b.Run(name, func(b *testing.B) { benchConsumer(b, d, toolsOnly, 1) })
		}
	}
}

// BenchmarkConsumerSessions is BenchmarkConsumer with 4 sessions consumed
// at once by one gateway (aggregate events/s).
func BenchmarkConsumerSessions(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d)+"/mixed", func(b *testing.B) { benchConsumer(b, d, false, 4) })
	}
}

func benchConsumer(b *testing.B, d sqlstore.Dialect, toolsOnly bool, sessions int) {
	body, events := benchStream(b, benchEvents, toolsOnly)
	up := benchUpstream(body)
	defer up.Close()
	client := newClient(up.URL)
	db := storetest.Open(b, d)
	ctx := context.Background()
	if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: tenantID, Name: "a", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	signer, err := audit.LoadOrCreateKey(filepath.Join(b.TempDir(), "audit.key"), "")
	if err != nil {
		b.Fatal(err)
	}
	log := audit.New(sqlstore.NewAuditStore(db), signer)
	log.CheckpointInterval = -1
	if err := log.Open(); err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	store := sqlstore.NewObserveStore(db)
	svc := observe.New(store, observe.UpstreamFunc(func(context.Context, string, string) (*anthropic.Client, error) {
		return &client, nil
	}), log, nil)
	svc.Owner = "bench"
	if err := svc.Open(); err != nil {
		b.Fatal(err)
	}
	defer svc.Close()

	b.ResetTimer()
	cpu0 := cpuTime()
	var total time.Duration
	for range b.N {
		start := time.Now()
		var ids []string
		for range sessions {
			t := observe.Target{TenantID: tenantID, SessionID: vargate.NewID("vs-", 8), UpstreamID: "sesn_bench",
				AgentID: "agent-1", RiskLevel: "permissive", PIIDetection: true}
			if err := svc.Observe(ctx, t); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, t.SessionID)
		}
		for _, id := range ids {
			testwait.For(b, waitTimeout, "the consumer of "+id+" to finish", func() bool {
				s, err := store.Get(ctx, tenantID, id)
				if err != nil {
					b.Fatal(err)
				}
				return s.State == observe.StateDone
			})
		}
		total += time.Since(start)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	st := svc.Stats()
	if st.Events != int64(b.N*sessions*events) {
		b.Fatalf("stored %d events, want %d", st.Events, b.N*sessions*events)
	}
	b.ReportMetric(float64(st.Events)/total.Seconds(), "events/s")
	b.ReportMetric(float64(st.Observed)/total.Seconds(), "records/s")
	// On a machine shared with other work, events per CPU-second of the
	// whole process (every goroutine: SSE decoding, the consumer, the
	// audit writer, the database driver, the test's upstream) is the
	// steadier figure.
	b.ReportMetric(float64(st.Events)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(0, "ns/op")
}

// pacedUpstream serves one session whose stream plays calls tool calls
// (use and result) one every gap, stamping each event's processed_at
// when it is written, with an idle spell of pause (heartbeats only)
// after the first half: an active session, then a resumed one.
func pacedUpstream(b *testing.B, calls int, gap, pause time.Duration) *httptest.Server {
	cmds := benchCommands(b)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sessions/{id}/events/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		seq := 0
		emit := func(typ string, fields map[string]any) string {
			seq++
			id := fmt.Sprintf("sevt_%08d", seq)
			fields["id"], fields["type"], fields["processed_at"] = id, typ, time.Now().UTC()
			data, _ := json.Marshal(fields)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
			fl.Flush()
			return id
		}
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for i := range calls {
			if i == calls/2 {
				end := time.Now().Add(pause)
				for time.Now().Before(end) {
					fmt.Fprint(w, "event: ping\ndata: {}\n\n")
					fl.Flush()
					time.Sleep(100 * time.Millisecond) // the fake server's pause is the scenario, not a wait
				}
			}
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
			use := emit("agent.tool_use", map[string]any{"name": "bash", "input": map[string]any{"command": cmds[i%len(cmds)]},
				"evaluated_permission": "allow"})
			emit("agent.tool_result", map[string]any{"tool_use_id": use, "is_error": false,
				"content": []map[string]any{{"type": "text", "text": "ok"}}})
		}
		emit("session.status_terminated", map[string]any{})
	})
	mux.HandleFunc("GET /v1/sessions/{id}/events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[],"next_page":null}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"error","error":{"type":"not_found_error","message":"not found"}}`))
	})
	return httptest.NewServer(mux)
}

// BenchmarkEventLatency measures the event-to-record latency (an event's
// processed_at to its commit in the store, Stats.Latency) of a session
// making 200 tool calls a second (400 events/s), idle for 2 s halfway
// through and then resumed: p50 and p99 from the latency histogram.
func BenchmarkEventLatency(b *testing.B) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			up := pacedUpstream(b, 1000, 5*time.Millisecond, 2*time.Second)
			defer up.Close()
			client := newClient(up.URL)
			db := storetest.Open(b, d)
			ctx := context.Background()
			if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: tenantID, Name: "a", CreatedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
			signer, err := audit.LoadOrCreateKey(filepath.Join(b.TempDir(), "audit.key"), "")
			if err != nil {
				b.Fatal(err)
			}
			log := audit.New(sqlstore.NewAuditStore(db), signer)
			log.CheckpointInterval = -1
			if err := log.Open(); err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			store := sqlstore.NewObserveStore(db)
			svc := observe.New(store, observe.UpstreamFunc(func(context.Context, string, string) (*anthropic.Client, error) {
				return &client, nil
			}), log, nil)
			svc.Owner = "bench"
			svc.SSETimeout = time.Second // the idle spell is longer: heartbeats must keep the stream
			if err := svc.Open(); err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			b.ResetTimer()
			for range b.N {
				t := observe.Target{TenantID: tenantID, SessionID: vargate.NewID("vs-", 8), UpstreamID: "sesn_paced",
					AgentID: "agent-1", RiskLevel: "permissive", PIIDetection: true}
				if err := svc.Observe(ctx, t); err != nil {
					b.Fatal(err)
				}
				testwait.For(b, waitTimeout, "the consumer of "+t.SessionID+" to finish", func() bool {
					s, err := store.Get(ctx, tenantID, t.SessionID)
					if err != nil {
						b.Fatal(err)
					}
					return s.State == observe.StateDone
				})
			}
			b.StopTimer()
			st := svc.Stats()
			b.ReportMetric(float64(st.Latency.Quantile(0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(st.Latency.Quantile(0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(st.Connections)/float64(b.N), "connections/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}
