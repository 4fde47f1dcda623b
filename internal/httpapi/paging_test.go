package httpapi_test

import (
	"strconv"
	"testing"

	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/webhook"
)

// TestListPagingParameters: every list route refuses a limit outside 1
// to its maximum and a position it did not hand out with 422 naming the
// parameter, and accepts the largest limit.
func TestListPagingParameters(t *testing.T) {
	e := newAPI(t, apiOptions{Approvals: true, Scenarios: quickScenario})
	routes := []struct {
		path     string // with a query to append to
		max      int
		position string // the parameter saying where the page starts
	}{
		{"/approvals?status=all&", approval.MaxListLimit, "before"},
		{"/webhooks/deliveries?", webhook.MaxListLimit, "before"},
		{"/audit?", audit.MaxListLimit, "cursor"},
		{"/managed/agents?", agent.MaxListLimit, "cursor"},
		{"/managed/sessions?", session.MaxListLimit, "cursor"},
		{"/managed/sessions/vs-0000000000000000/audit?", session.MaxListLimit, "after"},
	}
	for _, rt := range routes {
		for _, bad := range []string{"0", "-1", "abc", "1.5", strconv.Itoa(rt.max + 1)} {
			r := e.do(t, "acme/auditor", "GET", rt.path+"limit="+bad, "", nil)
			if r.status != 422 || r.errorField("code") != "invalid" || r.errorField("field") != "limit" {
				t.Errorf("%slimit=%s: %d %s, want 422 naming limit", rt.path, bad, r.status, r.raw)
			}
		}
		for _, bad := range []string{"yesterday", "-5", "2026-13-01T00:00:00Z"} {
			r := e.do(t, "acme/auditor", "GET", rt.path+rt.position+"="+bad, "", nil)
			if r.status != 422 || r.errorField("code") != "invalid" || r.errorField("field") != rt.position {
				t.Errorf("%s%s=%s: %d %s, want 422 naming %s", rt.path, rt.position, bad, r.status, r.raw, rt.position)
			}
		}
		if rt.position == "after" {
			continue // the session does not exist; its limit was checked first
		}
		if r := e.do(t, "acme/auditor", "GET", rt.path+"limit="+strconv.Itoa(rt.max), "", nil); r.status != 200 {
			t.Errorf("%slimit=%d: %d %s, want 200", rt.path, rt.max, r.status, r.raw)
		}
	}
}
