package compliance_test

import (
	"testing"

	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/tools"
)

// TestSummaryCountsQueuedActions checks that an action held for a human
// counts as requested from govern's require_approval record alone: the
// approval queue writes no record of its own for the pending state.
func TestSummaryCountsQueuedActions(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	e.call(t, s, tools.SendEmail, `{"to":"team@example.com","subject":"Summary","body":"Top 3 frameworks"}`)
	s = e.interrupt(t, s, "key-admin", "done reviewing")
	doc := decodeDoc(t, e.export(t, "t1", s.ID))
	if a := doc.Summary.Approvals; a != (compliance.ApprovalUsage{Requested: 1, Pending: 1}) {
		t.Errorf("approvals = %+v, want 1 requested and pending", a)
	}
}
