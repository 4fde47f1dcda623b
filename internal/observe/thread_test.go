package observe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/sim"
)

// threadUpstream fakes the Managed Agents API of one multi-agent session,
// to control what the simulator plays in order: the primary stream
// announces a sub-agent thread, whose own stream and history carry a tool
// call the primary stream never shows, and then ends at once on every
// reconnect.
type threadUpstream struct {
	release chan struct{} // closed to let the primary stream end its turn
}

func sse(w http.ResponseWriter, evs ...map[string]any) {
	for _, ev := range evs {
		data, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], data)
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func ev(id, typ string, at int, fields map[string]any) map[string]any {
	m := map[string]any{"id": id, "type": typ, "processed_at": time.Date(2026, 11, 27, 12, 0, at, 0, time.UTC)}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

func (u *threadUpstream) handler() http.Handler {
	mux := http.NewServeMux()
	jsonBody := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
	thread := `{"id":"sthr_sub","type":"session_thread","session_id":"sesn_multi","parent_thread_id":"sthr_primary",
		"status":"terminated","agent":{"type":"agent","id":"agent_sub","version":1},"created_at":"2026-11-27T12:00:01Z",
		"updated_at":"2026-11-27T12:00:05Z","archived_at":null}`
	subUse := ev("sevt_sub_use", "agent.tool_use", 3, map[string]any{"name": "bash", "input": map[string]any{"command": "go vet ./..."},
		"evaluated_permission": "allow", "session_thread_id": "sthr_sub"})
	subResult := ev("sevt_sub_result", "agent.tool_result", 4, map[string]any{"tool_use_id": "sevt_sub_use", "is_error": false,
		"content": []map[string]any{{"type": "text", "text": "ok"}}})
	mux.HandleFunc("GET /v1/sessions/sesn_multi/events/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sse(w,
			ev("sevt_run", "session.status_running", 0, nil),
			ev("sevt_thread", "session.thread_created", 1, map[string]any{"session_thread_id": "sthr_sub", "agent_name": "helper"}),
			ev("sevt_use", "agent.tool_use", 2, map[string]any{"name": "read", "input": map[string]any{"file_path": "go.mod"}, "evaluated_permission": "allow"}),
			ev("sevt_result", "agent.tool_result", 2, map[string]any{"tool_use_id": "sevt_use", "is_error": false,
				"content": []map[string]any{{"type": "text", "text": "module demo"}}}),
		)
		select {
		case <-u.release:
			sse(w, ev("sevt_idle", "session.status_idle", 9, map[string]any{"stop_reason": map[string]any{"type": "end_turn"}}))
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /v1/sessions/sesn_multi/events", func(w http.ResponseWriter, _ *http.Request) {
		jsonBody(w, `{"data":[],"next_page":null}`)
	})
	mux.HandleFunc("GET /v1/sessions/sesn_multi/threads", func(w http.ResponseWriter, _ *http.Request) {
		jsonBody(w, `{"data":[`+thread+`],"next_page":null}`)
	})
	mux.HandleFunc("GET /v1/sessions/sesn_multi/threads/sthr_sub", func(w http.ResponseWriter, _ *http.Request) {
		jsonBody(w, thread)
	})
	mux.HandleFunc("GET /v1/sessions/sesn_multi/threads/sthr_sub/stream", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		// A thread's own idle must not end the session's turn.
		sse(w, subUse, subResult, ev("sevt_sub_idle", "session.status_idle", 5, map[string]any{"stop_reason": map[string]any{"type": "end_turn"}}))
	})
	mux.HandleFunc("GET /v1/sessions/sesn_multi/threads/sthr_sub/events", func(w http.ResponseWriter, _ *http.Request) {
		data, _ := json.Marshal(map[string]any{"data": []any{subUse}, "next_page": nil})
		jsonBody(w, string(data))
	})
	return mux
}

// A sub-agent's tool call, seen only on its thread's stream, is audited
// like the primary agent's; the thread's status does not move the
// session.
func TestSubAgentThreads(t *testing.T) {
	f := newFixture(t, sim.Options{})
	up := &threadUpstream{release: make(chan struct{})}
	srv := httptest.NewServer(up.handler())
	t.Cleanup(srv.Close)
	client := newClient(srv.URL)
	svc := f.newService("p1", func(s *observe.Service) {
		s.Upstream = observe.UpstreamFunc(func(context.Context, string, string) (*anthropic.Client, error) { return &client, nil })
		// A tiny slack: on reconnect, the thread's history is older than
		// what the consumer keeps in memory and must be found stored.
		s.HistorySlack = time.Millisecond
	})
	target := observe.Target{TenantID: tenantID, SessionID: "vs-multi", UpstreamID: "sesn_multi", AgentID: "agent-1", StartedAt: time.Now()}
	f.life.add(target)
	if err := svc.Observe(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both tool calls to be audited", func() bool { return len(f.records(target.SessionID, audit.SourceMCPObserved)) == 2 })
	if stops := f.life.snapshot(target.SessionID).stops; len(stops) != 0 {
		t.Errorf("the thread's idle ended the session's turn: %v", stops)
	}
	close(up.release)
	f.waitTurnEnded(target.SessionID, 1)
	// The primary stream now ends at once every time: each reconnect
	// back-fills the thread's history again.
	conns := svc.Stats().Connections
	waitFor(t, "two reconnects", func() bool { return svc.Stats().Connections >= conns+2 })

	recs := f.records(target.SessionID, audit.SourceMCPObserved)
	if got := actionIDs(recs); !slices.Equal(got, []string{"sevt_use", "sevt_sub_use"}) && !slices.Equal(got, []string{"sevt_sub_use", "sevt_use"}) {
		t.Errorf("observed records for %v", got)
	}
	for _, r := range recs {
		if r.ActionID == "sevt_sub_use" && (r.Tool != "bash" || !strings.Contains(string(r.Detail), `"thread_id":"sthr_sub"`)) {
			t.Errorf("sub-agent record %s %s", r.Tool, r.Detail)
		}
	}
	stored := f.storedEvents(target.SessionID)
	slices.Sort(stored)
	want := []string{"sevt_idle", "sevt_result", "sevt_run", "sevt_sub_idle", "sevt_sub_result", "sevt_sub_use", "sevt_thread", "sevt_use"}
	if !slices.Equal(stored, want) {
		t.Errorf("stored events %v, want each once: %v", stored, want)
	}
}

// Against the simulator: a sub-agent that reads a private key while the
// primary agent only talks is audited on its thread, flagged, and the
// whole multi-agent session (both streams) is stored exactly once.
func TestSubAgentThreadOnSimulator(t *testing.T) {
	f := newFixture(t, sim.Options{})
	f.scenario(sim.Scenario{Name: "delegate", Steps: []sim.Step{
		{Type: sim.StepMessage, Text: "Asking a helper."},
		{Type: sim.StepSubagent, Agent: "helper", Steps: []sim.Step{
			bash("ls", "README.md"),
			bash("cat ~/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----"),
		}},
		{Type: sim.StepMessage, Text: "Done."},
		{Type: sim.StepEndTurn},
	}})
	svc := f.newService("p1", nil)
	target := f.startSession(agentSpec{scenario: "delegate", riskLevel: "permissive"})
	if err := svc.Observe(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	f.send(target.UpstreamID, "go")
	f.waitTurnEnded(target.SessionID, 1)
	waitFor(t, "the sub-agent's calls to be audited", func() bool { return len(f.records(target.SessionID, audit.SourceMCPObserved)) == 2 })
	threads := ofType(f.simEvents(target.UpstreamID), "session.thread_created")
	if len(threads) != 1 {
		t.Fatalf("%d threads created", len(threads))
	}
	var created struct {
		ThreadID string `json:"session_thread_id"`
	}
	_ = json.Unmarshal(threads[0].JSON, &created)
	for _, r := range f.records(target.SessionID, audit.SourceMCPObserved) {
		if r.Tool != "bash" || !strings.Contains(string(r.Detail), `"thread_id":"`+created.ThreadID+`"`) {
			t.Errorf("sub-agent record %s %s", r.Tool, r.Detail)
		}
		var a struct {
			Flagged bool `json:"flagged"`
		}
		_ = json.Unmarshal(r.Anomaly, &a)
		if strings.Contains(string(r.ArgsRedacted), "id_rsa") != a.Flagged {
			t.Errorf("%s flagged=%v", r.ArgsRedacted, a.Flagged)
		}
		if strings.Contains(string(r.Detail), "BEGIN OPENSSH PRIVATE KEY") {
			t.Errorf("private key in the record: %s", r.Detail)
		}
	}
	if stops := f.life.snapshot(target.SessionID).stops; len(stops) != 1 {
		t.Errorf("turn ends %v; the thread's idle must not end the session's turn", stops)
	}
	f.checkComplete(t, target)
}
