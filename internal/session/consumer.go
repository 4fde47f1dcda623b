package session

import (
	"context"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/vault"
)

// This file adapts the Service to the full event consumer
// (internal/observe): its Lifecycle and Upstream interfaces.

// Outcomes an event consumer reports to SessionEnded.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
)

// SessionEnded is told by the event consumer that the upstream session
// ended its work: outcome completed (the turn ended; the session becomes
// awaiting_approval instead while actions are unsettled) or failed
// (terminated, retries exhausted, …; reason says why).
func (s *Service) SessionEnded(ctx context.Context, tenantID, sessionID, outcome, reason string) error {
	var err error
	switch outcome {
	case OutcomeCompleted:
		_, err = s.TurnEnded(ctx, tenantID, sessionID, StopEndTurn)
	case OutcomeFailed:
		_, err = s.Fail(ctx, tenantID, sessionID, cmpOr(reason, "failed upstream"))
	default:
		return vargate.Invalid("outcome", "unknown session outcome %q", outcome)
	}
	return err
}

// SessionRunning is told by the event consumer that the agent works again
// (session.status_running) after it ended a turn.
func (s *Service) SessionRunning(ctx context.Context, tenantID, sessionID string) error {
	_, err := s.Resumed(ctx, tenantID, sessionID)
	return err
}

// SessionInterrupted marks the session interrupted by actor for reason
// and returns when it ended; the caller sends the user.interrupt and
// audits the request. A session that is not active, awaiting approval
// or completed is a KindConflict error. The session's MCP token stops
// working at once and its vault is removed.
func (s *Service) SessionInterrupted(ctx context.Context, tenantID, sessionID, actor, reason string) (time.Time, error) {
	if _, err := s.Get(ctx, tenantID, sessionID); err != nil {
		return time.Time{}, err
	}
	sess, err := s.Store.Transition(ctx, Transition{TenantID: tenantID, ID: sessionID,
		From: []Status{StatusActive, StatusAwaitingApproval}, To: StatusInterrupted,
		At: s.now(), EndReason: cmpOr(reason, "interrupted by "+actor)})
	if err != nil {
		return time.Time{}, notRunning(err)
	}
	s.finish(ctx, sess)
	if sess.EndedAt == nil {
		return sess.UpdatedAt, nil
	}
	return *sess.EndedAt, nil
}

// UpstreamClient returns an SDK client with the tenant's Anthropic key,
// for the event consumer. The key's release is audited for sessionID
// (or, without one, as the event consumer's).
func (s *Service) UpstreamClient(ctx context.Context, tenantID, sessionID string) (*anthropic.Client, error) {
	p := vault.Purpose{SessionID: sessionID, Actor: ActorSystem}
	if sessionID == "" {
		p.ActionID = "event-consumer"
	}
	c, err := s.Upstream.Client(ctx, tenantID, p)
	if err != nil {
		return nil, err
	}
	return &c.Client, nil
}
