package approval_test

import (
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
)

// The execution record of an approved action carries its outcome: a
// session that ended is a cancellation, a policy or configuration that
// refuses it a denial, a tool error a failure.
func TestExecutionRecordOutcome(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		for _, tt := range []struct {
			err  error
			want audit.Outcome
		}{
			{nil, audit.OutcomeExecuted},
			{&approval.PolicyDeniedError{Reasons: []string{"session_ended: session vs-1 is interrupted"}}, audit.OutcomeCancelled},
			{&approval.PolicyDeniedError{Reasons: []string{"tool_not_allowed: no longer allowed"}}, audit.OutcomeDenied},
			{vargate.Errorf(vargate.KindUpstream, "SMTP server refused the message"), audit.OutcomeFailed},
		} {
			e.exec.err = tt.err
			a := e.enqueue(t, false)
			if _, err := e.svc.Approve(t.Context(), e.principal(vargate.RoleApprover), a.ID, ""); err != nil {
				t.Fatal(err)
			}
			recs, err := sqlstore.NewAuditStore(e.db).List(t.Context(), e.ten, audit.Filter{ActionID: a.ID, Source: audit.SourceApproval})
			if err != nil || len(recs) == 0 {
				t.Fatalf("records %v, %v", recs, err)
			}
			if last := recs[0]; last.Outcome != tt.want {
				t.Errorf("%v: record %s with outcome %q, want %q", tt.err, last.Decision, last.Outcome, tt.want)
			}
		}
	})
}
