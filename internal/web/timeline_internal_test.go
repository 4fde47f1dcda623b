package web

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
)

// An observed call's timeline entry shows the event's own time
// (processed_at) with the record's beside it, and rounded scores.
func TestTimelineShowsEventTimeAndRoundedScores(t *testing.T) {
	eventAt := time.Date(2026, 12, 7, 9, 0, 1, 0, time.UTC)
	recordAt := eventAt.Add(90 * time.Second)
	detail, _ := json.Marshal(map[string]any{"event_id": "sevt_1", "processed_at": eventAt, "used_at": eventAt})
	rec := audit.Record{Seq: 7, Time: recordAt, Source: audit.SourceMCPObserved, SessionID: "vs-1", Tool: "bash",
		Decision: "observed", Detail: detail,
		Anomaly: json.RawMessage(`{"flags":[{"category":"exfiltration","severity":"high","explanation":"x"}],"severity":"high","score":0.7,"flagged":true,"session_score":2.89990001,"threshold":1.2}`)}
	ev := viewEvent(rec)
	if !ev.EventTime.Equal(eventAt) {
		t.Errorf("event time %v, want the event's %v", ev.EventTime, eventAt)
	}
	pages := mustParsePages(mustStatic())
	var buf bytes.Buffer
	if err := pages[""].t.ExecuteTemplate(&buf, "timeline_events", view{Data: timelineData{Events: []event{ev}}}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{"2026-12-07 09:00:01 UTC", "recorded 2026-12-07 09:01:31 UTC", "session score 2.9 of 1.2"} {
		if !strings.Contains(html, want) {
			t.Errorf("timeline entry lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "2.8999") {
		t.Errorf("score not rounded:\n%s", html)
	}
	// A record with no event time (a control-plane change) shows its own.
	plain := viewEvent(audit.Record{Seq: 8, Time: recordAt, Source: audit.SourceControlPlane})
	buf.Reset()
	if err := pages[""].t.ExecuteTemplate(&buf, "timeline_events", view{Data: timelineData{Events: []event{plain}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "2026-12-07 09:01:31 UTC") || strings.Contains(buf.String(), "recorded 2026") {
		t.Errorf("plain entry:\n%s", buf.String())
	}
}
