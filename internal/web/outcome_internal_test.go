package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
)

// A governed call whose connector failed shows as failed on the session
// timeline, not as a green allow: the governed record (allow, executing)
// takes the outcome of its mcp_outcome record.
func TestTimelineShowsFailedCallAsFailed(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	evs := []event{
		viewEvent(audit.Record{Seq: 1, Time: at, Source: audit.SourceMCPGoverned, SessionID: "vs-1", ActionID: "act-1",
			Tool: "vargate_web_search", Decision: "allow", Outcome: audit.OutcomeExecuting}),
		viewEvent(audit.Record{Seq: 2, Time: at, Source: audit.SourceMCPOutcome, SessionID: "vs-1", ActionID: "act-1",
			Tool: "vargate_web_search", Outcome: audit.OutcomeFailed}),
	}
	settleOutcomes(evs)
	pages := mustParsePages(mustStatic())
	var buf bytes.Buffer
	if err := pages[""].t.ExecuteTemplate(&buf, "timeline_events", view{Data: timelineData{Events: evs[:1]}}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if !strings.Contains(html, `<span class="badge bad">failed</span>`) || strings.Contains(html, `<span class="badge ok">allow</span>`) {
		t.Errorf("the failed call's entry:\n%s", html)
	}
	if !strings.Contains(html, "policy: allow") {
		t.Errorf("the entry lacks the policy decision:\n%s", html)
	}
}
