package main

import (
	"context"

	"github.com/vargate/vargate/internal/approval"
)

// approvalPending counts a session's actions the approval queue has not
// settled (pending, approved, executing), for session.Pending.
type approvalPending struct{ q *approval.Service }

// PendingActions implements session.Pending.
func (p approvalPending) PendingActions(ctx context.Context, tenantID, sessionID string) (int, error) {
	n := 0
	for _, st := range []approval.Status{approval.StatusPending, approval.StatusApproved, approval.StatusExecuting} {
		list, err := p.q.List(ctx, tenantID, approval.Filter{SessionID: sessionID, Status: st, Limit: approval.MaxListLimit})
		if err != nil {
			return 0, err
		}
		n += len(list)
	}
	return n, nil
}
