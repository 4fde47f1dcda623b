package observe

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/vargate/vargate/internal/session"
)

// Lifecycle steps stored with a batch.
const (
	stepRunning = "running"
	stepIdle    = "idle:"
	stepFailed  = "failed:"
)

// lifecycle reports a step to the session lifecycle, clears it, and
// finishes the consumer when the session reached a final status. An error
// leaves the step stored: the next connection takes it again.
func (p *processor) lifecycle(ctx context.Context, step string) error {
	s, st := p.c.s, p.st
	if s.Lifecycle == nil {
		if strings.HasPrefix(step, stepFailed) {
			return p.finish(ctx, string(session.StatusFailed))
		}
		return s.Store.StepDone(ctx, st.sess.SessionID, step)
	}
	lctx, cancel := s.sideCtx(ctx)
	defer cancel()
	var sess session.Session
	var err error
	switch {
	case step == stepRunning:
		sess, err = s.Lifecycle.Resumed(lctx, st.sess.TenantID, st.sess.SessionID)
	case strings.HasPrefix(step, stepIdle):
		sess, err = s.Lifecycle.TurnEnded(lctx, st.sess.TenantID, st.sess.SessionID, strings.TrimPrefix(step, stepIdle))
	case strings.HasPrefix(step, stepFailed):
		sess, err = s.Lifecycle.Fail(lctx, st.sess.TenantID, st.sess.SessionID, strings.TrimPrefix(step, stepFailed))
	}
	if err != nil {
		return fmt.Errorf("session lifecycle %s: %w", step, err)
	}
	if err := s.Store.StepDone(ctx, st.sess.SessionID, step); err != nil {
		return fmt.Errorf("clear lifecycle step: %w", err)
	}
	if p.ended(sess) {
		return p.finish(ctx, string(sess.Status))
	}
	return nil
}

// ended reports whether the consumer may stop: the session reached a
// final status, and, when it was interrupted, the interrupt's echo is
// stored. The interrupt may be decided just as the session goes idle by
// itself; reading on until the echo keeps the trail whole and lets the
// interrupt be confirmed by the stream (an interrupt against an idle
// session is a no-op upstream, but it is still echoed).
func (p *processor) ended(sess session.Session) bool {
	return sess.Status.Final() && (sess.Status != session.StatusInterrupted || p.st.interrupted)
}

// checkFinal finishes the consumer of a session that ended (an interrupt
// arrived) once the stream shows it stopped.
func (p *processor) checkFinal(ctx context.Context) error {
	s, st := p.c.s, p.st
	if s.Lifecycle == nil || st.sess.UpstreamStatus == upstreamRunning || st.sess.UpstreamStatus == upstreamRescheduled {
		return nil
	}
	sess, err := s.Lifecycle.Get(ctx, st.sess.TenantID, st.sess.SessionID)
	if err != nil {
		return fmt.Errorf("read session status: %w", err)
	}
	if p.ended(sess) {
		return p.finish(ctx, string(sess.Status))
	}
	return nil
}

// finishIfDetached finishes the consumer of a detached session once the
// stream shows it stopped: terminated, or idle after an interrupt.
func (p *processor) finishIfDetached(ctx context.Context) error {
	st := p.st
	if !p.c.detached() {
		return nil
	}
	if st.sess.UpstreamStatus == upstreamTerminated || (st.interrupted && st.sess.UpstreamStatus == upstreamIdle) {
		return p.finish(ctx, p.c.s.finalStatus(ctx, &st.sess.Target))
	}
	return nil
}

// finalStatus returns the session's status for the record of a finished
// consumer ("ended" when it cannot be read).
func (s *Service) finalStatus(ctx context.Context, t *Target) string {
	if s.Lifecycle != nil {
		if sess, err := s.Lifecycle.Get(ctx, t.TenantID, t.SessionID); err == nil {
			return string(sess.Status)
		}
	}
	return "ended"
}

// finish stops consuming an ended session: escalated requests still
// waiting for a human are denied, tool uses that never returned are
// audited as such, and the consumer's state becomes done. It returns
// errFinished.
func (p *processor) finish(ctx context.Context, outcome string) error {
	s, st := p.c.s, p.st
	var open []*use
	for _, u := range st.uses {
		if u.Permission == permissionAsk && u.ResultAt == nil && u.Decision == decisionEscalated && u.ConfirmedAt == nil {
			s.denyEnded(ctx, &st.sess.Target, &u.ToolUse)
		}
		open = append(open, u)
	}
	if err := p.audit(ctx, open, true); err != nil {
		return err
	}
	if err := p.flushAudited(ctx); err != nil {
		return err
	}
	if err := s.Store.Finish(ctx, s.Owner, st.sess.SessionID, outcome, s.now()); err != nil {
		return fmt.Errorf("finish observed session: %w", err)
	}
	st.finished = true
	p.log().LogAttrs(ctx, slog.LevelInfo, "observed session ended", slog.String(logKeyOutcome, outcome))
	s.notify(st.sess.SessionID)
	return errFinished
}
