package session

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
)

var (
	_ auth.SessionTokens       = (*Service)(nil)
	_ approval.SessionNotifier = (*Service)(nil)
)

// AuthenticateSessionToken resolves the hash of a per-session MCP token
// (vgs_…) to the agent principal of its session. It fails (unauthorized)
// for an unknown token and for a session that is not running or is past
// its max_session_hours: a token is valid only while its session works.
func (s *Service) AuthenticateSessionToken(ctx context.Context, hash []byte) (vargate.Principal, error) {
	sess, err := s.Store.ByTokenHash(ctx, hash)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return vargate.Principal{}, vargate.Errorf(vargate.KindUnauthorized, "unknown session token")
		}
		return vargate.Principal{}, err
	}
	if !sess.Status.Running() {
		return vargate.Principal{}, vargate.Errorf(vargate.KindUnauthorized, "session %s is %s", sess.ID, sess.Status)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return vargate.Principal{}, vargate.Errorf(vargate.KindUnauthorized, "session %s reached its max_session_hours", sess.ID)
	}
	return vargate.Principal{TenantID: sess.TenantID, Role: vargate.RoleAgent, AgentID: sess.AgentID,
		SessionID: sess.ID, KeyID: sess.TokenID}, nil
}

// ConfigFor returns the agent configuration that governs p's calls: the
// version its session pinned for a session token, the current version
// for an agent key (refused once archived).
func (s *Service) ConfigFor(ctx context.Context, p vargate.Principal) (agent.Config, error) {
	if p.Role != vargate.RoleAgent {
		return agent.Config{}, vargate.Errorf(vargate.KindForbidden, "only agent credentials call governed tools")
	}
	if p.SessionID != "" {
		sess, err := s.Store.Get(ctx, p.TenantID, p.SessionID)
		if err != nil {
			return agent.Config{}, err
		}
		// The pinned version governs only a session that still works, of
		// an agent that is not archived.
		if reason := s.sessionEnded(sess); reason != "" {
			return agent.Config{}, vargate.Errorf(vargate.KindForbidden, "%s", reason)
		}
		cur, err := s.Agents.Get(ctx, p.TenantID, sess.AgentID)
		if err != nil {
			return agent.Config{}, err
		}
		if cur.Archived() {
			return agent.Config{}, vargate.Errorf(vargate.KindForbidden, "agent %s is archived", cur.ID)
		}
		return s.Agents.GetVersion(ctx, p.TenantID, sess.AgentID, sess.AgentVersion)
	}
	if p.AgentID == "" {
		return agent.Config{}, vargate.Errorf(vargate.KindForbidden, "the credential is bound to no agent configuration")
	}
	c, err := s.Agents.Get(ctx, p.TenantID, p.AgentID)
	if err != nil {
		return agent.Config{}, err
	}
	if c.Archived() {
		return agent.Config{}, vargate.Errorf(vargate.KindForbidden, "agent %s is archived", c.ID)
	}
	return c, nil
}

// Reasons CheckLive gives, as the prefix of its reason.
const (
	ReasonSessionEnded   = "session_ended"
	ReasonAgentArchived  = "agent_archived"
	ReasonToolNotAllowed = "tool_not_allowed"
)

// CheckLive says why an action of p (one a human approved, say) may no
// longer run now: its session is not running or is past its
// max_session_hours, its agent is archived or gone, or the agent's
// current configuration no longer allows the tool. It returns "" when
// the action may run, else a reason starting with one of the Reason
// codes. Used at the moment an approved action would execute.
func (s *Service) CheckLive(ctx context.Context, p vargate.Principal, tool string) (string, error) {
	agentID := p.AgentID
	if p.SessionID != "" {
		sess, err := s.Store.Get(ctx, p.TenantID, p.SessionID)
		if vargate.IsKind(err, vargate.KindNotFound) {
			return ReasonSessionEnded + ": session " + p.SessionID + " no longer exists", nil
		}
		if err != nil {
			return "", err
		}
		if reason := s.sessionEnded(sess); reason != "" {
			return reason, nil
		}
		agentID = sess.AgentID
	}
	cur, err := s.Agents.Get(ctx, p.TenantID, agentID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return ReasonAgentArchived + ": agent " + agentID + " no longer exists", nil
	}
	if err != nil {
		return "", err
	}
	if cur.Archived() {
		return ReasonAgentArchived + ": agent " + agentID + " is archived", nil
	}
	if tool != "" && !allowsTool(cur.AllowedTools, tool) {
		return fmt.Sprintf("%s: the current configuration of agent %s no longer allows %s", ReasonToolNotAllowed, agentID, tool), nil
	}
	return "", nil
}

// allowsTool reports whether allowed_tools lets an agent call name: an
// exact entry, or a glob pattern ("github__*") that matches it, as the
// base policy's tool_allowed rule decides.
func allowsTool(allowed []string, name string) bool {
	for _, a := range allowed {
		if a == name {
			return true
		}
		if strings.ContainsAny(a, "*?[") {
			if ok, err := path.Match(a, name); err == nil && ok {
				return true
			}
		}
	}
	return false
}

// sessionEnded says why a session no longer works, or "".
func (s *Service) sessionEnded(sess Session) string {
	if !sess.Status.Running() {
		return fmt.Sprintf("%s: session %s is %s", ReasonSessionEnded, sess.ID, sess.Status)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return fmt.Sprintf("%s: session %s reached its max_session_hours", ReasonSessionEnded, sess.ID)
	}
	return ""
}

// SessionFor returns the session of a session-token principal (its
// delegation chain, age and status), or a not-found error for other
// principals.
func (s *Service) SessionFor(ctx context.Context, p vargate.Principal) (Session, error) {
	if p.SessionID == "" {
		return Session{}, vargate.NotFound("session")
	}
	return s.Store.Get(ctx, p.TenantID, p.SessionID)
}

// ActionSettled implements approval.SessionNotifier: the outcome of an
// action the agent queued is sent to it as a message, which makes a
// session that was awaiting approval active again. A settlement reported
// twice is sent once; sessions that ended are not told.
func (s *Service) ActionSettled(ctx context.Context, a approval.Action) error {
	if a.SessionID == "" || !a.Status.Final() {
		return nil
	}
	sess, err := s.Store.Get(ctx, a.TenantID, a.SessionID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return nil // an MCP session of an agent key, not a managed session
	}
	if err != nil {
		return err
	}
	if sess.Status == StatusCreating || sess.Status.Final() || !s.now().Before(sess.ExpiresAt) {
		return nil
	}
	sent, err := s.Store.NoticeSent(ctx, sess.ID, a.ID, string(a.Status))
	if err != nil || sent {
		return err
	}
	reactivated, err := s.wake(ctx, &sess)
	if err != nil {
		return err
	}
	if err := s.deliver(ctx, sess, OutcomeMessage(a), ActorSystem); err != nil {
		if reactivated {
			s.sleepAgain(ctx, sess)
		}
		return err
	}
	if err := s.Store.RecordNotice(ctx, sess.ID, a.ID, string(a.Status), s.now()); err != nil {
		return err
	}
	if sess.Status == StatusAwaitingApproval {
		if next, err := s.Store.Transition(ctx, Transition{TenantID: sess.TenantID, ID: sess.ID,
			From: []Status{StatusAwaitingApproval}, To: StatusActive, At: s.now()}); err == nil {
			sess = next
		}
	}
	s.record(ctx, sess, audit.EventApprovalOutcomeSent, ActorSystem, map[string]any{
		"action_id": a.ID, "tool": a.Tool, "action_status": a.Status})
	return nil
}

// maxResultInMessage bounds the tool result quoted to the agent.
const maxResultInMessage = 8000

// OutcomeMessage is the message that tells the agent what became of an
// action it queued for approval.
func OutcomeMessage(a approval.Action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Vargate: your call to %s (action %s), which needed human approval, ", a.Tool, a.ID)
	switch a.Status {
	case approval.StatusExecuted:
		b.WriteString("was approved and executed.")
		if len(a.Result) > 0 {
			b.WriteString(" Result: ")
			b.WriteString(truncate(resultText(a.Result), maxResultInMessage))
		}
	case approval.StatusRejected:
		b.WriteString("was rejected by a human and was not executed.")
		if a.Note != "" {
			b.WriteString(" Reason: " + truncate(a.Note, 1000))
		}
		b.WriteString(" Do not try to reach the same effect another way.")
	case approval.StatusExpired:
		b.WriteString("was not decided in time and expired; it was not executed. Do not try to reach the same effect another way.")
	case approval.StatusCancelled:
		b.WriteString("was cancelled before it ran")
		if f := a.Failure; f != nil {
			b.WriteString(": " + truncate(f.Message, 1000))
		}
		b.WriteString(". It was not executed. Do not try to reach the same effect another way.")
	case approval.StatusFailed:
		b.WriteString("was approved but did not complete")
		if f := a.Failure; f != nil {
			fmt.Fprintf(&b, " (%s): %s", f.Code, truncate(f.Message, 1000))
			if len(f.Reasons) > 0 {
				b.WriteString(" Policy: " + strings.Join(f.Reasons, "; "))
			}
		}
		b.WriteString(".")
	default:
		fmt.Fprintf(&b, "is now %s.", a.Status)
	}
	return b.String()
}

// resultText renders a tool result for a message: MCP text content as
// its text, anything else as JSON.
func resultText(raw json.RawMessage) string {
	var res struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(raw, &res) == nil && len(res.Content) > 0 {
		var parts []string
		for _, c := range res.Content {
			if c.Type == "text" {
				parts = append(parts, c.Text)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "\n")
		}
	}
	return string(raw)
}
