package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
)

// MaxReasonBytes bounds an interrupt's reason.
const MaxReasonBytes = 2000

// InterruptResult is the outcome of an interrupt.
type InterruptResult struct {
	SessionID string `json:"session_id"`
	// Status is always "interrupted".
	Status string `json:"status"`
	Reason string `json:"reason"`
	// InterruptedBy is the API key ID of who asked, or "system" for an
	// automatic interrupt.
	InterruptedBy string `json:"interrupted_by"`
	// Confirmed is true once the stream showed the session idle after
	// the interrupt; false when it did not within the retries.
	Confirmed bool      `json:"confirmed"`
	EndedAt   time.Time `json:"ended_at"`
	// Attempts is how many times user.interrupt was sent.
	Attempts int `json:"attempts"`
}

// Interrupt stops a running session on behalf of p. The session lifecycle
// marks it interrupted (its MCP token stops working), records who and why,
// emits session.interrupted and sends user.interrupt; Interrupt then waits
// until the stored stream shows the session idle after the interrupt,
// sending it again when it does not, and records the outcome. A session
// that is not running is a KindConflict error; one of another tenant is
// not found.
func (s *Service) Interrupt(ctx context.Context, p vargate.Principal, sessionID, reason string) (InterruptResult, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return InterruptResult{}, vargate.Invalid("reason", "is required")
	case len(reason) > MaxReasonBytes || !utf8.ValidString(reason):
		return InterruptResult{}, vargate.Invalid("reason", "must be valid UTF-8 of at most %d bytes", MaxReasonBytes)
	}
	// Whatever the client does, the interrupt and its records complete.
	return s.interrupt(context.WithoutCancel(ctx), p.TenantID, sessionID, p.KeyID, reason, nil)
}

// Decisions of the session records of an interrupt's outcome.
const (
	DecisionInterruptConfirmed   = audit.EventInterruptConfirmed
	DecisionInterruptUnconfirmed = audit.EventInterruptUnconfirmed
)

// interrupt does the work of Interrupt; anomalyInfo is set for an
// automatic interrupt.
func (s *Service) interrupt(ctx context.Context, tenantID, sessionID, actor, reason string, anomalyInfo json.RawMessage) (InterruptResult, error) {
	if s.Lifecycle == nil {
		return InterruptResult{}, vargate.Errorf(vargate.KindUnavailable, "interrupts are not available: no session lifecycle is configured")
	}
	sess, sent, err := s.Lifecycle.Interrupt(ctx, tenantID, sessionID, reason, actor)
	if err != nil {
		return InterruptResult{}, err
	}
	res := InterruptResult{SessionID: sessionID, Status: string(session.StatusInterrupted), Reason: reason, InterruptedBy: actor, EndedAt: s.now()}
	if sess.EndedAt != nil {
		res.EndedAt = *sess.EndedAt
	}
	t := Target{TenantID: tenantID, SessionID: sessionID, UpstreamID: sess.AnthropicSessionID, AgentID: sess.AgentID}
	var eventID, confirmedBy string
	if sent {
		res.Attempts = 1
		eventID = s.lastInterrupt(ctx, t)
	}
	for {
		if eventID != "" {
			if err := s.Store.SetInterruptEvent(ctx, sessionID, eventID, s.now()); err != nil {
				s.Logger.LogAttrs(ctx, slog.LevelError, "store interrupt event", slog.String(logKeySession, sessionID), slog.Any(logKeyError, err))
			}
			if confirmedBy = s.awaitIdle(ctx, t, eventID, s.interruptWait()); confirmedBy != "" {
				res.Confirmed = true
				break
			}
		}
		if res.Attempts >= s.interruptAttempts() || ctx.Err() != nil || t.UpstreamID == "" {
			break
		}
		res.Attempts++
		id, err := s.sendInterrupt(ctx, t)
		if err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "send interrupt", slog.String(logKeySession, sessionID), slog.Any(logKeyError, err))
			sleep(ctx, min(s.interruptWait(), time.Second))
			continue
		}
		eventID = id
	}
	decision := DecisionInterruptConfirmed
	if !res.Confirmed {
		decision = DecisionInterruptUnconfirmed
		s.Logger.LogAttrs(ctx, slog.LevelWarn, "interrupt not confirmed: the stream did not show the session idle",
			slog.String(logKeySession, sessionID))
	}
	detail, _ := json.Marshal(audit.InterruptDetail{Event: decision, Reason: reason, Automatic: anomalyInfo != nil, Confirmed: res.Confirmed,
		EventID: eventID, ConfirmedBy: confirmedBy, Attempts: res.Attempts, Anomaly: anomalyInfo})
	actx, cancel := s.sideCtx(ctx)
	defer cancel()
	if _, err := s.Audit.Append(actx, audit.Record{
		TenantID: tenantID, Source: audit.SourceSession, SessionID: sessionID, AgentID: sess.AgentID,
		Decision: decision, Reasons: []string{cut(reason, audit.MaxReasonBytes)}, Actor: actor, Detail: detail,
	}); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "audit interrupt outcome", slog.String(logKeySession, sessionID), slog.Any(logKeyError, err))
	}
	return res, nil
}

// lastInterrupt finds the ID of the newest user.interrupt of the session
// (the one the lifecycle just sent).
func (s *Service) lastInterrupt(ctx context.Context, t Target) string {
	ctx, cancel := s.sideCtx(ctx)
	defer cancel()
	client, err := s.Upstream.Client(ctx, t.TenantID, t.SessionID)
	if err != nil {
		return ""
	}
	page, err := client.Beta.Sessions.Events.List(ctx, t.UpstreamID, anthropic.BetaSessionEventListParams{
		Order: anthropic.BetaSessionEventListParamsOrderDesc, Limit: anthropic.Int(1),
		Types: []anthropic.BetaManagedAgentsSessionEventType{typeUserInterrupt},
	})
	if err != nil || len(page.Data) == 0 {
		return ""
	}
	return page.Data[0].ID
}

// sendInterrupt sends user.interrupt and returns its event ID.
func (s *Service) sendInterrupt(ctx context.Context, t Target) (string, error) {
	ctx, cancel := s.sideCtx(ctx)
	defer cancel()
	client, err := s.Upstream.Client(ctx, t.TenantID, t.SessionID)
	if err != nil {
		return "", err
	}
	res, err := client.Beta.Sessions.Events.Send(ctx, t.UpstreamID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}}},
	})
	if err != nil {
		return "", err
	}
	for _, ev := range res.Data {
		if ev.Type == typeUserInterrupt && ev.ID != "" {
			return ev.ID, nil
		}
	}
	return "", errors.New("the API did not echo the interrupt event")
}

// Ways an interrupt's effect was confirmed.
const (
	confirmedByStream = "stream"         // the stored stream showed the session idle after it
	confirmedByStatus = "session_status" // no consumer stores the stream any more; the API reports the session stopped
)

// awaitIdle waits up to d for the session to be seen stopped after the
// interrupt eventID, and says how it was seen ("" when it was not).
func (s *Service) awaitIdle(ctx context.Context, t Target, eventID string, d time.Duration) string {
	if eventID == "" {
		sleep(ctx, min(d, time.Second))
		return ""
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	var asked time.Time
	for {
		change := s.waitChange(t.SessionID)
		if by := s.stopped(ctx, t, eventID, &asked); by != "" {
			return by
		}
		select {
		case <-ctx.Done():
			return ""
		case <-deadline.C:
			return ""
		case <-change:
		case <-poll.C:
		}
	}
}

// stopped reports how the session is seen stopped after the interrupt
// eventID, or "". The stored stream decides while a consumer stores it:
// the interrupt followed by idle, or idle already before it (an interrupt
// against an idle session is a no-op upstream). Once the session's
// consumer has finished — it stops at the first idle after the session
// ended, which may come before the interrupt's echo — nothing more is
// stored, and the API's own session status decides, asked at most every
// half second (asked keeps the time of the last question).
func (s *Service) stopped(ctx context.Context, t Target, eventID string, asked *time.Time) string {
	seen, idle, err := s.Store.InterruptState(ctx, t.SessionID, eventID)
	switch {
	case err != nil:
		return ""
	case seen && idle:
		return confirmedByStream
	case seen:
		return ""
	}
	o, err := s.Store.Get(ctx, t.TenantID, t.SessionID)
	if err == nil && o.State != StateDone {
		return ""
	}
	if err != nil && !vargate.IsKind(err, vargate.KindNotFound) {
		return ""
	}
	if now := time.Now(); now.Sub(*asked) >= 500*time.Millisecond {
		*asked = now
		if s.upstreamStopped(ctx, t) {
			return confirmedByStatus
		}
	}
	return ""
}

// upstreamStopped asks the API whether the session is idle or terminated.
func (s *Service) upstreamStopped(ctx context.Context, t Target) bool {
	ctx, cancel := s.sideCtx(ctx)
	defer cancel()
	client, err := s.Upstream.Client(ctx, t.TenantID, t.SessionID)
	if err != nil {
		return false
	}
	sess, err := client.Beta.Sessions.Get(ctx, t.UpstreamID, anthropic.BetaSessionGetParams{})
	if err != nil {
		return false
	}
	return sess.Status == anthropic.BetaManagedAgentsSessionStatusIdle || sess.Status == anthropic.BetaManagedAgentsSessionStatusTerminated
}

// crossed handles the moment the session's anomaly score crossed its
// threshold: anomaly.detected, then the automatic interrupt, which runs
// in the background (it waits for this consumer to see the session idle).
func (p *processor) crossed(ctx context.Context, c *crossing) {
	s, t := p.c.s, p.st.sess.Target
	cats := map[anomaly.Category]bool{}
	var names []string
	for _, f := range c.verdict.Flags {
		if f.Severity >= anomaly.SeverityMedium && !cats[f.Category] {
			cats[f.Category] = true
			names = append(names, string(f.Category))
		}
	}
	reason := fmt.Sprintf("anomaly score %.2f reached the %s threshold %.2f", c.total, riskName(t.RiskLevel), c.threshold)
	if len(names) > 0 {
		reason += " (" + strings.Join(names, ", ") + ")"
	}
	p.log().LogAttrs(ctx, slog.LevelWarn, "anomaly threshold crossed; interrupting", slog.Float64(logKeyScore, c.total),
		slog.String(logKeyTool, c.use.Tool), slog.String(logKeyEvent, c.use.ToolUseID))
	info := c.use.Anomaly
	s.emit(ctx, t.TenantID, EventAnomalyDetected, map[string]any{
		"session_id": t.SessionID, "agent_id": t.AgentID, "tool": c.use.Tool, "event_id": c.use.ToolUseID,
		"session_score": roundScore(c.total), "threshold": c.threshold, "risk_level": riskName(t.RiskLevel),
		"anomaly": info, "action": "interrupt",
	})
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer s.wg.Done()
		if _, err := s.interrupt(s.life, t.TenantID, t.SessionID, ActorSystem, reason, info); err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "automatic interrupt", slog.String(logKeySession, t.SessionID), slog.Any(logKeyError, err))
		}
	}()
}

func riskName(level string) string {
	if level == "" {
		return string(anomaly.RiskStandard)
	}
	return level
}
