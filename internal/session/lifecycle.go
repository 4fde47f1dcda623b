package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/vault"
)

// Anthropic's stop reasons of session.status_idle.
const (
	StopEndTurn          = "end_turn"
	StopRequiresAction   = "requires_action"
	StopRetriesExhausted = "retries_exhausted"
	StopBudgetReached    = "budget_reached"
	StopRefusal          = "refusal"
)

// ActorSystem is the Actor of changes the gateway makes on its own.
const ActorSystem = "system"

var running = []Status{StatusCreating, StatusActive, StatusAwaitingApproval}

// TurnEnded records that the agent ended its turn (session.status_idle):
// end_turn or refusal make it awaiting_approval when actions of the
// session are still unsettled and completed otherwise; retries_exhausted
// and budget_reached make it failed. requires_action changes nothing (the
// observer answers the confirmations). A session that already ended is
// left as it is.
func (s *Service) TurnEnded(ctx context.Context, tenantID, id, stopReason string) (Session, error) {
	var to Status
	endReason := ""
	pending := 0
	switch stopReason {
	case StopRequiresAction:
		return s.Store.Get(ctx, tenantID, id)
	case StopRetriesExhausted, StopBudgetReached:
		to, endReason = StatusFailed, "the turn ended with "+stopReason
	default:
		n, err := s.pending(ctx, tenantID, id)
		if err != nil {
			// Completed is the safe guess: a settlement still reaches the
			// agent (ActionSettled makes the session active again).
			s.logger().LogAttrs(ctx, slog.LevelWarn, "cannot count pending actions; taking none",
				slog.String(logKeySession, id), slog.String(logKeyError, err.Error()))
		}
		pending = n
		to = StatusCompleted
		if pending > 0 {
			to = StatusAwaitingApproval
		}
	}
	sess, err := s.Store.Transition(ctx, Transition{TenantID: tenantID, ID: id, From: running, To: to,
		At: s.now(), StopReason: stopReason, EndReason: endReason})
	if vargate.IsKind(err, vargate.KindConflict) {
		return s.Store.Get(ctx, tenantID, id)
	}
	if err != nil {
		return Session{}, err
	}
	s.record(ctx, sess, "session."+string(to), ActorSystem, map[string]any{"stop_reason": stopReason, "pending": pending})
	switch {
	case to == StatusCompleted:
		s.emit(ctx, sess, "session.completed")
		// Completed only when nothing was pending; an action queued in
		// the meantime is cancelled, not left to run in a finished turn.
		if err := s.cancelActions(ctx, sess); err != nil {
			s.logger().LogAttrs(ctx, slog.LevelError, "cannot cancel the actions of a completed session",
				slog.String(logKeySession, sess.ID), slog.String(logKeyError, err.Error()))
		}
	case to.Final():
		s.finish(ctx, sess)
	}
	return sess, nil
}

// Resumed records that the agent is working again (session.status_running)
// after it ended a turn.
func (s *Service) Resumed(ctx context.Context, tenantID, id string) (Session, error) {
	sess, err := s.Store.Transition(ctx, Transition{TenantID: tenantID, ID: id,
		From: []Status{StatusAwaitingApproval, StatusCompleted}, To: StatusActive, At: s.now()})
	if vargate.IsKind(err, vargate.KindConflict) {
		return s.Store.Get(ctx, tenantID, id)
	}
	if err != nil {
		return Session{}, err
	}
	s.record(ctx, sess, "session.resumed", ActorSystem, nil)
	return sess, nil
}

// Fail ends the session as failed (terminated upstream, deleted, or an
// error the gateway cannot recover from).
func (s *Service) Fail(ctx context.Context, tenantID, id, reason string) (Session, error) {
	sess, err := s.Store.Transition(ctx, Transition{TenantID: tenantID, ID: id,
		From: append(running, StatusCompleted), To: StatusFailed, At: s.now(), EndReason: reason})
	if vargate.IsKind(err, vargate.KindConflict) {
		return s.Store.Get(ctx, tenantID, id)
	}
	if err != nil {
		return Session{}, err
	}
	s.record(ctx, sess, "session.failed", ActorSystem, map[string]any{"reason": reason})
	s.finish(ctx, sess)
	return sess, nil
}

// MaxReasonBytes bounds an interrupt reason.
const MaxReasonBytes = 2000

// Interrupt stops a running session for good: it is marked interrupted
// first (its MCP token stops working at once), then Anthropic is sent a
// user.interrupt. sent reports whether Anthropic accepted the interrupt.
// A session that has ended is a conflict (nothing runs) — except that the
// gateway itself (actor ActorSystem: the anomaly rules judging calls
// recorded before the turn ended) still closes a completed one, so that
// no message can start it again.
func (s *Service) Interrupt(ctx context.Context, tenantID, id, reason, actor string) (sess Session, sent bool, err error) {
	if len(reason) > MaxReasonBytes || !utf8.ValidString(reason) {
		return Session{}, false, vargate.Invalid("reason", "must be valid UTF-8 of at most %d bytes", MaxReasonBytes)
	}
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return Session{}, false, err
	}
	from := []Status{StatusActive, StatusAwaitingApproval}
	if actor == ActorSystem {
		from = append(from, StatusCompleted)
	}
	sess, err = s.Store.Transition(ctx, Transition{TenantID: tenantID, ID: id,
		From: from, To: StatusInterrupted,
		At: s.now(), EndReason: cmpOr(reason, "interrupted by "+actor)})
	if err != nil {
		return Session{}, false, notRunning(err)
	}
	sendErr := s.sendInterrupt(ctx, sess)
	detail := map[string]any{"reason": reason, "anthropic_interrupt_sent": sendErr == nil}
	if sendErr != nil {
		detail["anthropic_error"] = errorMessage(sendErr)
	}
	s.record(ctx, sess, "session.interrupted", actor, detail)
	s.emit(ctx, sess, "session.interrupted")
	s.finish(ctx, sess)
	return sess, sendErr == nil, nil
}

// notRunning explains the conflict of interrupting a session that has
// ended: there is nothing left to stop.
func notRunning(err error) error {
	if !vargate.IsKind(err, vargate.KindConflict) {
		return err
	}
	return vargate.Errorf(vargate.KindConflict, "%s: it has ended and runs nothing, so there is nothing to interrupt", err.Error())
}

// sendInterrupt sends user.interrupt to the upstream session.
func (s *Service) sendInterrupt(ctx context.Context, sess Session) error {
	if sess.AnthropicSessionID == "" {
		return nil
	}
	c, err := s.Upstream.Client(ctx, sess.TenantID, vault.Purpose{SessionID: sess.ID, Actor: ActorSystem})
	if err != nil {
		return err
	}
	_, err = c.Beta.Sessions.Events.Send(ctx, sess.AnthropicSessionID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{interruptEvent()}})
	return upstreamError(StepInterrupt, err)
}

// SendMessage sends a follow-up user message to the agent. A completed
// session becomes active again, which needs a free concurrency slot.
func (s *Service) SendMessage(ctx context.Context, tenantID, id, text, actor string) (Session, error) {
	if strings.TrimSpace(text) == "" {
		return Session{}, vargate.Invalid("message", "is required")
	}
	if len(text) > MaxMessageBytes || !utf8.ValidString(text) {
		return Session{}, vargate.Invalid("message", "must be valid UTF-8 of at most %d bytes", MaxMessageBytes)
	}
	sess, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return Session{}, err
	}
	reactivated, err := s.wake(ctx, &sess)
	if err != nil {
		return Session{}, err
	}
	if err := s.deliver(ctx, sess, text, actor); err != nil {
		if reactivated {
			s.sleepAgain(ctx, sess)
		}
		return Session{}, err
	}
	digest := sha256.Sum256([]byte(text))
	s.record(ctx, sess, "session.message", actor, map[string]any{
		"message": pii.RedactString(text), "message_digest": "sha256:" + hex.EncodeToString(digest[:])})
	return s.Store.Get(ctx, tenantID, id)
}

// wake makes a completed session active again (under the concurrency
// budget) and refuses ended or expired sessions. It reports whether it
// changed the status.
func (s *Service) wake(ctx context.Context, sess *Session) (bool, error) {
	switch {
	case sess.Status.Final():
		return false, vargate.Errorf(vargate.KindConflict, "session %s is %s", sess.ID, sess.Status)
	case !s.now().Before(sess.ExpiresAt):
		return false, vargate.Errorf(vargate.KindConflict, "session %s reached its max_session_hours", sess.ID)
	case sess.Status != StatusCompleted:
		return false, nil
	}
	settings, err := s.Store.Settings(ctx, sess.TenantID)
	if err != nil {
		return false, err
	}
	next, err := s.Store.Transition(ctx, Transition{TenantID: sess.TenantID, ID: sess.ID, From: []Status{StatusCompleted},
		To: StatusActive, At: s.now(), MaxConcurrent: settingOr(settings.MaxConcurrent, s.maxConcurrent())})
	if err != nil {
		return false, err
	}
	*sess = next
	return true, nil
}

// sleepAgain undoes wake after the message could not be sent.
func (s *Service) sleepAgain(ctx context.Context, sess Session) {
	_, err := s.Store.Transition(context.WithoutCancel(ctx), Transition{TenantID: sess.TenantID, ID: sess.ID,
		From: []Status{StatusActive}, To: StatusCompleted, At: s.now()})
	if err != nil && !vargate.IsKind(err, vargate.KindConflict) {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "cannot restore a session's status after a failed message",
			slog.String(logKeySession, sess.ID), slog.String(logKeyError, err.Error()))
	}
}

// deliver makes sure the session's stream is followed, then sends text.
func (s *Service) deliver(ctx context.Context, sess Session, text, actor string) error {
	if err := s.observer().Attach(ctx, sess); err != nil {
		return upstreamError(StepStream, err)
	}
	c, err := s.Upstream.Client(ctx, sess.TenantID, vault.Purpose{SessionID: sess.ID, Actor: actor})
	if err != nil {
		return err
	}
	_, err = c.Beta.Sessions.Events.Send(ctx, sess.AnthropicSessionID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage(text)}})
	return upstreamError(StepMessage, err)
}

// finish stops following an ended session and removes its upstream
// resources. A cleanup that fails is retried by the sweeper once the
// session is due.
func (s *Service) finish(ctx context.Context, sess Session) {
	s.detach(sess.ID)
	if err := s.cleanup(ctx, sess); err != nil {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "session cleanup failed; the sweeper retries it",
			slog.String(logKeySession, sess.ID), slog.String(logKeyError, err.Error()))
	}
}

// cleanup cancels the session's waiting actions, deletes its vault (its
// MCP token leaves Anthropic) and archives the upstream session, then
// marks the session cleaned. What fails is retried by the sweeper, so an
// ended session's actions are cancelled even after a crash.
func (s *Service) cleanup(ctx context.Context, sess Session) error {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// A failed cancellation does not hold up the vault's deletion; both
	// are retried until the session is marked cleaned.
	cancelErr := s.cancelActions(bg, sess)
	if sess.VaultID != "" || sess.AnthropicSessionID != "" {
		c, err := s.Upstream.Client(bg, sess.TenantID, vault.Purpose{SessionID: sess.ID, Actor: ActorSystem})
		if err != nil {
			return errors.Join(cancelErr, err)
		}
		if sess.VaultID != "" {
			if _, err := c.Beta.Vaults.Delete(bg, sess.VaultID, anthropic.BetaVaultDeleteParams{}); err != nil && !notFoundUpstream(err) {
				return errors.Join(cancelErr, upstreamError(StepVault, err))
			}
		}
		if sess.AnthropicSessionID != "" {
			// An upstream session that is still winding down after an
			// interrupt refuses archiving; the vault is what matters.
			_, _ = c.Beta.Sessions.Archive(bg, sess.AnthropicSessionID, anthropic.BetaSessionArchiveParams{})
		}
	}
	if cancelErr != nil {
		return fmt.Errorf("cancel the session's waiting actions: %w", cancelErr)
	}
	return s.Store.MarkCleaned(bg, sess.TenantID, sess.ID, s.now())
}

// cancelActions cancels the waiting actions of sess, which ended or
// completed, with a reason that says so.
func (s *Service) cancelActions(ctx context.Context, sess Session) error {
	if s.Actions == nil {
		return nil
	}
	reason := fmt.Sprintf("session %s is %s", sess.ID, sess.Status)
	if sess.EndReason != "" {
		reason += ": " + sess.EndReason
	}
	return s.Actions.SessionEnded(ctx, sess.TenantID, sess.ID, reason)
}

// record appends a lifecycle record (source session) for sess; a failure
// is logged: the change it describes is already committed.
func (s *Service) record(ctx context.Context, sess Session, event, actor string, detail map[string]any) {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["event"] = event
	detail["status"] = sess.Status
	if sess.EndReason != "" {
		detail["end_reason"] = sess.EndReason
	}
	err := s.audit(ctx, audit.Record{TenantID: sess.TenantID, Source: audit.SourceSession, SessionID: sess.ID,
		AgentID: sess.AgentID, Decision: event, Actor: actor}, detail)
	if err != nil {
		s.logger().LogAttrs(ctx, slog.LevelError, "session lifecycle record not written",
			slog.String(logKeySession, sess.ID), slog.String(logKeyEvent, event), slog.String(logKeyError, err.Error()))
	}
}

// Reconcile brings the session's status in line with Anthropic's after
// the stream was (re)opened: the stream has no replay, so a turn that
// ended while nobody listened is found in the event history.
func (s *Service) Reconcile(ctx context.Context, sess Session) error {
	if sess.AnthropicSessionID == "" || sess.Status.Final() {
		return nil
	}
	c, err := s.Upstream.Client(ctx, sess.TenantID, vault.Purpose{SessionID: sess.ID, Actor: ActorSystem})
	if err != nil {
		return err
	}
	up, err := c.Beta.Sessions.Get(ctx, sess.AnthropicSessionID, anthropic.BetaSessionGetParams{})
	if notFoundUpstream(err) {
		_, err = s.Fail(ctx, sess.TenantID, sess.ID, "the Anthropic session no longer exists")
		return err
	}
	if err != nil {
		return upstreamError(StepSession, err)
	}
	switch up.Status {
	case anthropic.BetaManagedAgentsSessionStatusTerminated:
		_, err = s.Fail(ctx, sess.TenantID, sess.ID, "terminated upstream")
		return err
	case anthropic.BetaManagedAgentsSessionStatusRunning, anthropic.BetaManagedAgentsSessionStatusRescheduling:
		_, err = s.Resumed(ctx, sess.TenantID, sess.ID)
		return err
	}
	// Idle: the latest turn boundary tells whether a turn ended unseen.
	page, err := c.Beta.Sessions.Events.List(ctx, sess.AnthropicSessionID, anthropic.BetaSessionEventListParams{
		Order: anthropic.BetaSessionEventListParamsOrderDesc, Limit: anthropic.Int(1),
		Types: []anthropic.BetaManagedAgentsSessionEventType{"session.status_idle", "user.message"},
	})
	if err != nil {
		return upstreamError(StepSession, err)
	}
	if len(page.Data) == 0 || page.Data[0].Type != "session.status_idle" {
		return nil // not started yet, or a message is queued: the turn is still to come
	}
	_, err = s.TurnEnded(ctx, sess.TenantID, sess.ID, page.Data[0].StopReason.Type)
	return err
}

// Run re-attaches the sessions that were running when the gateway
// stopped, then sweeps every SweepInterval until ctx ends: sessions past
// max_session_hours are expired (and interrupted upstream), ended
// sessions are cleaned, abandoned reservations released.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Resume(ctx); err != nil && ctx.Err() == nil {
		s.logger().LogAttrs(ctx, slog.LevelError, "resuming sessions failed", slog.String(logKeyError, err.Error()))
	}
	vargate.Every(ctx, vargate.OrDefault(s.SweepInterval, DefaultSweepInterval), func(ctx context.Context) {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger().LogAttrs(ctx, slog.LevelError, "session sweep failed", slog.String(logKeyError, err.Error()))
		}
	})
	return nil
}

// Resume re-attaches the observer to every active or awaiting session and
// reconciles each with Anthropic.
func (s *Service) Resume(ctx context.Context) error {
	list, err := s.Store.Running(ctx, 10000)
	if err != nil {
		return err
	}
	for _, sess := range list {
		if err := s.observer().Attach(ctx, sess); err != nil {
			s.logger().LogAttrs(ctx, slog.LevelWarn, "cannot re-attach to a session",
				slog.String(logKeySession, sess.ID), slog.String(logKeyError, err.Error()))
			continue
		}
		if err := s.Reconcile(ctx, sess); err != nil {
			s.logger().LogAttrs(ctx, slog.LevelWarn, "cannot reconcile a session",
				slog.String(logKeySession, sess.ID), slog.String(logKeyError, err.Error()))
		}
	}
	if len(list) > 0 {
		s.logger().LogAttrs(ctx, slog.LevelInfo, "re-attached running sessions", slog.Int(logKeyCount, len(list)))
	}
	return nil
}

// Sweep expires sessions past their deadline, cleans ended ones and
// releases reservations abandoned by a crashed creation. It returns how
// many sessions it expired.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	stale, err := s.Store.StaleReservations(ctx, now.Add(-2*s.createTimeout()), 100)
	if err != nil {
		return 0, err
	}
	for _, r := range stale {
		// A crashed creation may have made the vault and the upstream
		// session already (Prepare records them as they are made).
		if r.VaultID != "" || r.AnthropicSessionID != "" {
			log := s.logger().With(slog.String(logKeySession, r.ID), slog.String(logKeyTenant, r.TenantID))
			if c, err := s.Upstream.Client(ctx, r.TenantID, vault.Purpose{SessionID: r.ID, Actor: ActorSystem}); err != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "cannot reach the API to delete an abandoned creation's upstream resources", slog.Any(logKeyError, err))
			} else {
				deleteUpstream(ctx, c, r.AnthropicSessionID, r.VaultID, log)
			}
		}
		if err := s.Store.Release(ctx, r.TenantID, r.ID); err != nil && !vargate.IsKind(err, vargate.KindConflict) {
			return 0, err
		}
		s.logger().LogAttrs(ctx, slog.LevelWarn, "released an abandoned session reservation", slog.String(logKeySession, r.ID))
	}
	due, err := s.Store.Due(ctx, now, 100)
	if err != nil {
		return 0, err
	}
	expired := 0
	for _, sess := range due {
		if sess.Status == StatusActive || sess.Status == StatusAwaitingApproval {
			next, err := s.Store.Transition(ctx, Transition{TenantID: sess.TenantID, ID: sess.ID,
				From: []Status{StatusActive, StatusAwaitingApproval}, To: StatusExpired, At: now,
				EndReason: fmt.Sprintf("max_session_hours reached at %s", sess.ExpiresAt.Format(time.RFC3339))})
			if err != nil && !vargate.IsKind(err, vargate.KindConflict) {
				return expired, err
			}
			if err == nil {
				expired++
				sendErr := s.sendInterrupt(ctx, next)
				s.record(ctx, next, "session.expired", ActorSystem, map[string]any{"anthropic_interrupt_sent": sendErr == nil})
				s.emit(ctx, next, "session.expired")
				sess = next
			}
		}
		s.detach(sess.ID)
		if err := s.cleanup(ctx, sess); err != nil {
			s.logger().LogAttrs(ctx, slog.LevelWarn, "session cleanup failed; retrying later",
				slog.String(logKeySession, sess.ID), slog.String(logKeyError, err.Error()))
		}
	}
	return expired, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
