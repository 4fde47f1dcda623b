package approval

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/vargate/vargate"
)

// Selector picks the waiting actions Cancel settles. At least one of
// SessionID, AgentID and KeyID must be set; Keep, when set, spares the
// actions whose tool it accepts.
type Selector struct {
	SessionID string
	AgentID   string
	KeyID     string
	Keep      func(tool string) bool
}

// waiting are the statuses Cancel settles: nothing has run yet.
var waiting = []Status{StatusPending, StatusApproved}

// maxCancelRounds bounds Cancel's passes over the queue.
const maxCancelRounds = 10

// Cancel settles the tenant's actions that sel selects and that have not
// started — pending, or approved but not yet executing — as cancelled,
// with reason: each through the same compare-and-set and event row as any
// other move, so its audit record (source approval), its webhook
// (action.cancelled) and its session message follow even after a crash.
// An action that starts executing meanwhile is left to finish. actor is
// who caused it (an API key ID, or ActorSystem). It returns how many
// actions it cancelled.
func (s *Service) Cancel(ctx context.Context, tenantID string, sel Selector, reason, actor string) (int, error) {
	if tenantID == "" || (sel.SessionID == "" && sel.AgentID == "" && sel.KeyID == "") {
		return 0, vargate.Invalid("selector", "name a session, an agent or a key")
	}
	if actor == "" {
		actor = ActorSystem
	}
	reason = truncateNote(reason)
	n := 0
	// Pass over every page until a pass cancels nothing more (an action
	// queued during a pass is found by the next).
	for range maxCancelRounds {
		round := 0
		for _, st := range waiting {
			f := Filter{Status: st, SessionID: sel.SessionID, AgentID: sel.AgentID, KeyID: sel.KeyID, Limit: MaxListLimit}
			for {
				recs, err := s.Store.List(ctx, tenantID, f)
				if err != nil {
					return n, fmt.Errorf("list actions to cancel: %w", err)
				}
				for _, rec := range recs {
					if sel.Keep != nil && sel.Keep(rec.Tool) {
						continue
					}
					ok, err := s.cancel(ctx, rec, reason, actor)
					if err != nil {
						return n, err
					}
					if ok {
						round++
					}
				}
				if len(recs) < f.EffectiveLimit() {
					break
				}
				f.Before = recs[len(recs)-1].CreatedAt
			}
		}
		n += round
		if round == 0 {
			break
		}
	}
	return n, nil
}

// cancel moves one waiting action to cancelled and settles the move. It
// reports false when the action moved on first (decided, started,
// expired).
func (s *Service) cancel(ctx context.Context, rec Record, reason, actor string) (bool, error) {
	out, ev, err := s.Store.Transition(ctx, Transition{
		TenantID: rec.TenantID, ID: rec.ID, From: waiting, To: StatusCancelled, At: s.now(),
		Event:   Event{ID: newEventID(), Actor: actor, Note: reason},
		Failure: &Failure{Code: FailureCancelled, Message: reason},
	})
	if vargate.IsKind(err, vargate.KindConflict) || vargate.IsKind(err, vargate.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cancel action %s: %w", rec.ID, err)
	}
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "action cancelled", slog.String(logKeyTenant, rec.TenantID),
		slog.String(logKeyAction, rec.ID), slog.String(logKeyStatus, string(rec.Status)))
	s.settle(ctx, out, ev)
	return true, nil
}

func truncateNote(s string) string {
	if len(s) <= MaxNoteBytes {
		return s
	}
	return strings.ToValidUTF8(s[:MaxNoteBytes], "")
}

// SessionEnded cancels the waiting actions of a session that ended
// (interrupted, expired, completed or failed). internal/session calls it.
func (s *Service) SessionEnded(ctx context.Context, tenantID, sessionID, reason string) error {
	_, err := s.Cancel(ctx, tenantID, Selector{SessionID: sessionID}, reason, ActorSystem)
	return err
}

// AgentArchived cancels the waiting actions of an archived agent, in
// every session. internal/agent calls it.
func (s *Service) AgentArchived(ctx context.Context, tenantID, agentID, reason, actor string) error {
	_, err := s.Cancel(ctx, tenantID, Selector{AgentID: agentID}, reason, actor)
	return err
}

// ToolsWithdrawn cancels the agent's waiting actions of tools its
// configuration no longer allows (allows reports what it still does).
// internal/agent calls it.
func (s *Service) ToolsWithdrawn(ctx context.Context, tenantID, agentID string, allows func(tool string) bool, reason, actor string) error {
	_, err := s.Cancel(ctx, tenantID, Selector{AgentID: agentID, Keep: allows}, reason, actor)
	return err
}

// KeyRevoked cancels the waiting actions queued with a revoked key.
// internal/auth calls it.
func (s *Service) KeyRevoked(ctx context.Context, tenantID, keyID, reason string) error {
	_, err := s.Cancel(ctx, tenantID, Selector{KeyID: keyID}, reason, ActorSystem)
	return err
}
