package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
)

// Governing built-in tools before they run. A tool with the always_ask
// permission policy parks the session (session.status_idle with
// stop_reason requires_action) until user.tool_confirmation settles each
// request. The consumer answers by policy:
//
//   - the call's own anomaly verdict: critical is denied; high is denied
//     (sent to a human under the permissive profile); medium goes to a
//     human (denied under the strict profile);
//   - the tenant's policy (policy.Engine) on the call, with the governed
//     built-in tools counted as allowed tools and the session's anomaly
//     score (relative to its interrupt threshold) as anomaly_score.
//
// The stricter answer wins. A deny goes back with a message the agent
// sees; require_approval queues the call for a human (approval.Service),
// and the answer is sent when the human decides (ExecuteApproved,
// ActionSettled). Every decision is an mcp_governed audit record. When
// Vargate cannot decide — no policy, an evaluation error, the input
// unreadable, the decision not auditable, the queue unavailable — the
// tool does not run.

// Decisions on confirmation requests, as stored.
const (
	decisionAllow     = "allow"
	decisionDeny      = "deny"
	decisionEscalated = "escalated"
)

// maxDenyMessage bounds the message the agent sees for a denied call.
const maxDenyMessage = 1000

// ruling is the outcome of evaluating a confirmation request.
type ruling struct {
	Decision      string // policy.Allow, policy.Deny or policy.RequireApproval
	Reasons       []string
	PolicyVersion string
	DecisionID    string
	Sensitive     bool
	// Input is what the policy was asked, arguments redacted: kept in the
	// record for replay. Nil when the policy was not consulted.
	Input *policy.Input
	// Policy is the policy's own decision when the anomaly verdict made
	// the ruling stricter than it; nil otherwise.
	Policy *policyPart
}

// policyPart is the policy's own decision inside a stricter ruling.
type policyPart struct {
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons"`
}

func denyRuling(reason string) ruling {
	return ruling{Decision: policy.Deny, Reasons: []string{reason}}
}

// decideAll answers the confirmation requests with the given tool use
// IDs that are not answered yet.
func (p *processor) decideAll(ctx context.Context, ids []string) {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		u, ok := p.st.uses[id]
		if !ok {
			// A request for a call we never saw: we cannot judge it.
			tu := ToolUse{SessionID: p.st.sess.SessionID, ToolUseID: id, TenantID: p.st.sess.TenantID, Tool: "unknown", Permission: permissionAsk, UsedAt: p.c.s.now()}
			u = &use{ToolUse: tu}
			p.st.uses[id] = u
		}
		if u.ResultAt != nil || u.Decision == decisionEscalated || (u.Decision != "" && u.ConfirmedAt != nil) {
			continue
		}
		p.decide(ctx, u)
	}
}

// decide answers one confirmation request.
func (p *processor) decide(ctx context.Context, u *use) {
	s := p.c.s
	if !s.startDeciding(u.ToolUseID) {
		return
	}
	defer s.doneDeciding(u.ToolUseID)
	t := &p.st.sess.Target
	if u.Decision != "" && u.ConfirmedAt == nil {
		// Decided before, but the answer was not sent: send it now.
		s.answer(ctx, t, &u.ToolUse, u.Decision == decisionAllow, u.DecisionNote)
		return
	}
	input := u.input
	if input == nil && u.Tool != "unknown" {
		input = p.fetchInput(ctx, u)
	}
	var r ruling
	if input == nil {
		r = denyRuling("undecidable: Vargate could not read the tool call")
	} else {
		var v anomaly.Verdict
		if !p.ownServer(u.MCPServer) {
			v = analyzeRaw(p.st.det, u.Tool, input)
		}
		r = s.evaluate(ctx, t, &u.ToolUse, input, v, p.st.score.Total(s.now()), p.st.score.Threshold, p.st.calls, p.st.denials)
	}
	if r.Decision == policy.Deny {
		p.st.denials++
	}
	s.stats.decisions.Add(1)
	s.rule(ctx, t, &u.ToolUse, input, r)
	u.input = nil
}

// fetchInput finds the input of a tool use in the session's history (a
// consumer resumed after the use no longer has it in memory).
func (p *processor) fetchInput(ctx context.Context, u *use) json.RawMessage {
	if p.client == nil {
		return nil
	}
	typ := anthropic.BetaManagedAgentsSessionEventType(typeToolUse)
	if u.MCPServer != "" {
		typ = anthropic.BetaManagedAgentsSessionEventType(typeMCPToolUse)
	}
	pager := p.client.Beta.Sessions.Events.ListAutoPaging(ctx, p.st.sess.UpstreamID, anthropic.BetaSessionEventListParams{
		Types: []anthropic.BetaManagedAgentsSessionEventType{typ}, CreatedAtGte: anthropic.Time(u.UsedAt.Add(-time.Second)), Limit: anthropic.Int(100),
	})
	for pager.Next() {
		ev, err := parseEvent([]byte(pager.Current().RawJSON()))
		if err == nil && ev.ID == u.ToolUseID {
			return objectOrEmpty(ev.Input)
		}
	}
	return nil
}

// evaluate rules on a confirmation request: the call's anomaly verdict
// and the tenant's policy, the stricter winning. score is the session's
// anomaly score, threshold its interrupt threshold.
func (s *Service) evaluate(ctx context.Context, t *Target, u *ToolUse, input json.RawMessage, v anomaly.Verdict, score, threshold float64, calls, denials int) ruling {
	a := anomalyRuling(t.RiskLevel, v)
	if a.Decision == policy.Deny {
		return a
	}
	pr := s.policyRuling(ctx, t, u, input, score, threshold, calls, denials)
	switch {
	case pr.Decision == policy.Deny:
		return pr
	case a.Decision == policy.RequireApproval:
		if pr.Decision != policy.RequireApproval {
			pr.Policy = &policyPart{Decision: pr.Decision, Reasons: capReasons(pr.Reasons)}
		}
		pr.Reasons = append(slices.Clone(pr.Reasons), a.Reasons...)
		pr.Decision = policy.RequireApproval
	}
	return pr
}

// anomalyRuling judges a call by its own anomaly verdict.
func anomalyRuling(riskLevel string, v anomaly.Verdict) ruling {
	level, err := anomaly.ParseRiskLevel(riskLevel)
	if err != nil {
		level = anomaly.RiskStrict
	}
	var decision string
	switch {
	case v.Severity >= anomaly.SeverityCritical:
		decision = policy.Deny
	case v.Severity >= anomaly.SeverityHigh && level == anomaly.RiskPermissive:
		decision = policy.RequireApproval
	case v.Severity >= anomaly.SeverityHigh:
		decision = policy.Deny
	case v.Severity >= anomaly.SeverityMedium && level == anomaly.RiskStrict:
		decision = policy.Deny
	case v.Severity >= anomaly.SeverityMedium:
		decision = policy.RequireApproval
	default:
		return ruling{Decision: policy.Allow}
	}
	var reasons []string
	for _, f := range v.Flags {
		if f.Severity >= anomaly.SeverityMedium && len(reasons) < 5 {
			reasons = append(reasons, fmt.Sprintf("anomaly_%s: %s (%s)", f.Category, f.Explanation, f.Severity))
		}
	}
	return ruling{Decision: decision, Reasons: reasons}
}

// policyRuling evaluates the call against the tenant's policy.
func (s *Service) policyRuling(ctx context.Context, t *Target, u *ToolUse, input json.RawMessage, score, threshold float64, calls, denials int) ruling {
	if s.Policy == nil {
		return denyRuling("undecidable: no policy engine is configured")
	}
	call, findings, err := policy.NewCall(u.Tool, input)
	if err != nil {
		return denyRuling("undecidable: " + err.Error())
	}
	allowed := slices.Clone(t.AllowedTools)
	for _, b := range t.GovernedBuiltinTools {
		if !slices.Contains(allowed, b) {
			allowed = append(allowed, b)
		}
	}
	rel := 0.0
	if threshold > 0 {
		rel = min(1, score/threshold)
	}
	in := &policy.Input{
		Tenant: policy.Tenant{ID: t.TenantID},
		Agent: policy.Agent{
			ID: t.AgentID, AllowedTools: allowed, RequireHumanApproval: t.RequireHumanApproval,
			GovernanceProfile: policy.GovernanceProfile{RiskLevel: t.RiskLevel, PIIDetection: t.PIIDetection},
			Delegation:        policy.Delegation{Depth: t.DelegationDepth, MaxDepth: t.MaxDelegationDepth},
		},
		Session: policy.Session{ID: t.SessionID, AgeSeconds: s.now().Sub(t.StartedAt).Seconds(), Calls: calls, Denials: denials, AnomalyScore: round(rel)},
		Call:    call,
		PII:     findings,
		Time:    s.now(),
	}
	d, err := s.Policy.Decide(ctx, in)
	if err != nil {
		return denyRuling("undecidable: policy evaluation failed")
	}
	// The record keeps the input with the arguments redacted, as a
	// governed MCP call's does.
	kept := *in
	if len(u.InputRedacted) > 0 {
		kept.Call.Arguments = u.InputRedacted
	}
	r := ruling{Decision: d.Decision, Reasons: d.Reasons, PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID, Sensitive: len(findings) > 0, Input: &kept}
	if r.Decision != policy.Allow && r.Decision != policy.RequireApproval {
		r.Decision = policy.Deny
	}
	return r
}

// rule records a ruling (governed audit record) and acts on it: answer
// upstream, or queue the call for a human.
func (s *Service) rule(ctx context.Context, t *Target, u *ToolUse, input json.RawMessage, r ruling) {
	if err := s.auditRuling(ctx, t, u, r, ""); err != nil && r.Decision != policy.Deny {
		s.Logger.LogAttrs(ctx, slog.LevelError, "audit confirmation decision; denying the call",
			slog.String(logKeySession, t.SessionID), slog.String(logKeyEvent, u.ToolUseID), slog.Any(logKeyError, err))
		r = denyRuling("undecidable: the decision could not be audited")
	}
	if r.Decision == policy.RequireApproval {
		// The action's ID is the tool use's, stored first, so that a human
		// deciding at once finds the request it belongs to.
		u.Decision, u.ActionID = decisionEscalated, u.ToolUseID
		err := s.Store.SetDecision(ctx, t.SessionID, u.ToolUseID, decisionEscalated, strings.Join(r.Reasons, "; "), u.ActionID, false, s.now())
		if err == nil {
			_, err = s.escalate(ctx, t, u, input, r)
		}
		if err == nil {
			return
		}
		s.Logger.LogAttrs(ctx, slog.LevelError, "queue confirmation for a human; denying the call",
			slog.String(logKeySession, t.SessionID), slog.String(logKeyEvent, u.ToolUseID), slog.Any(logKeyError, err))
		r = denyRuling("undecidable: the call could not be queued for human approval")
		_ = s.auditRuling(ctx, t, u, r, "escalation failed") // best effort: the deny stands either way
	}
	allow := r.Decision == policy.Allow
	note := ""
	if !allow {
		note = denyMessage("Vargate denied this tool call", r.Reasons)
	}
	u.Decision, u.DecisionNote = decisionDeny, note
	if allow {
		u.Decision = decisionAllow
	}
	s.answer(ctx, t, u, allow, note)
}

// auditRuling writes the governed record of a ruling.
func (s *Service) auditRuling(ctx context.Context, t *Target, u *ToolUse, r ruling, note string) error {
	d := audit.ConfirmationDetail{Kind: audit.DetailKindToolConfirmation, EventID: u.ToolUseID, ThreadID: u.ThreadID, MCPServer: u.MCPServer, Note: note}
	if r.Input != nil {
		d.Input = r.Input
	}
	if r.Policy != nil {
		d.Policy = r.Policy
	}
	detail, _ := json.Marshal(d)
	actx, cancel := s.sideCtx(ctx)
	defer cancel()
	_, err := s.Audit.Append(actx, audit.Record{
		TenantID: t.TenantID, Source: audit.SourceMCPGoverned, SessionID: t.SessionID, AgentID: t.AgentID,
		ActionID: u.ToolUseID, Tool: u.Tool, Decision: r.Decision, PolicyVersion: r.PolicyVersion, DecisionID: r.DecisionID,
		Reasons: capReasons(r.Reasons), ArgsDigest: u.ArgsDigest, ArgsRedacted: u.InputRedacted, Anomaly: u.Anomaly,
		Actor: ActorSystem, Detail: detail,
	})
	return err
}

func capReasons(rs []string) []string {
	if len(rs) > audit.MaxReasons {
		rs = rs[:audit.MaxReasons]
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = cut(r, audit.MaxReasonBytes)
	}
	return out
}

// escalate queues the call for a human. The action's ID is the tool use
// ID, so the approval's records and the observed record share it.
func (s *Service) escalate(ctx context.Context, t *Target, u *ToolUse, input json.RawMessage, r ruling) (approval.Action, error) {
	if s.Approvals == nil {
		return approval.Action{}, errors.New("no approval queue is configured")
	}
	actx, cancel := s.sideCtx(ctx)
	defer cancel()
	return s.Approvals.Enqueue(actx, approval.Request{
		ID: u.ToolUseID, TenantID: t.TenantID, SessionID: t.SessionID, AgentID: t.AgentID, Tool: u.Tool,
		Args: input, ArgsDigest: u.ArgsDigest, ArgsRedacted: u.InputRedacted,
		PolicyVersion: r.PolicyVersion, DecisionID: r.DecisionID, Reasons: capReasons(r.Reasons), Sensitive: r.Sensitive,
	})
}

// denyMessage is what the agent reads for a denied call.
func denyMessage(prefix string, reasons []string) string {
	msg := prefix + "."
	if len(reasons) > 0 {
		msg = prefix + ": " + strings.Join(reasons, "; ")
	}
	return cut(msg, maxDenyMessage)
}

// answer sends the confirmation upstream (a few tries) and stores that it
// was sent. A request the session no longer awaits counts as answered.
func (s *Service) answer(ctx context.Context, t *Target, u *ToolUse, allow bool, note string) {
	decision := decisionDeny
	if allow {
		decision = decisionAllow
	}
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			sleep(ctx, time.Duration(attempt)*200*time.Millisecond)
		}
		if err = s.sendConfirmation(ctx, t, u, allow, note); err == nil || errors.Is(err, errNotAwaiting) {
			break
		}
	}
	sent := err == nil || errors.Is(err, errNotAwaiting)
	if !sent {
		s.Logger.LogAttrs(ctx, slog.LevelError, "send tool confirmation", slog.String(logKeySession, t.SessionID),
			slog.String(logKeyEvent, u.ToolUseID), slog.Any(logKeyError, err))
	}
	now := s.now()
	if sent {
		u.ConfirmedAt = &now
	}
	if err := s.Store.SetDecision(context.WithoutCancel(ctx), t.SessionID, u.ToolUseID, decision, note, u.ActionID, sent, now); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "store confirmation decision", slog.String(logKeyEvent, u.ToolUseID), slog.Any(logKeyError, err))
	}
}

// errNotAwaiting is a confirmation the session did not await (already
// settled, or the session moved on).
var errNotAwaiting = errors.New("the session does not await this confirmation")

// sendConfirmation sends user.tool_confirmation for the tool use.
func (s *Service) sendConfirmation(ctx context.Context, t *Target, u *ToolUse, allow bool, note string) error {
	ctx, cancel := s.sideCtx(ctx)
	defer cancel()
	client, err := s.Upstream.Client(ctx, t.TenantID, t.SessionID)
	if err != nil {
		return err
	}
	ev := anthropic.BetaManagedAgentsUserToolConfirmationEventParams{
		ToolUseID: u.ToolUseID, Result: anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResultAllow,
	}
	if !allow {
		ev.Result = anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResultDeny
		if note != "" {
			ev.DenyMessage = anthropic.String(note)
		}
	}
	if u.ThreadID != "" {
		ev.SetExtraFields(map[string]any{"session_thread_id": u.ThreadID})
	}
	_, err = client.Beta.Sessions.Events.Send(ctx, t.UpstreamID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserToolConfirmation: &ev}},
	})
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusBadRequest || apiErr.StatusCode == http.StatusConflict || apiErr.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%w: %w", errNotAwaiting, err)
	}
	return err
}

func (s *Service) startDeciding(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deciding == nil {
		s.deciding = map[string]bool{}
	}
	if s.deciding[id] {
		return false
	}
	s.deciding[id] = true
	return true
}

func (s *Service) doneDeciding(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.deciding, id)
}

// Owns reports whether the approval action is an escalated confirmation
// request of this package (cmd routes the approval queue's execution and
// settlement of such actions here, and the rest to govern and session).
func (s *Service) Owns(ctx context.Context, a approval.Action) bool {
	u, err := s.Store.ToolUseByAction(ctx, a.TenantID, a.ID)
	return err == nil && u.ToolUseID == a.ID
}

// ExecuteApproved answers the confirmation request of a call a human
// approved: it re-evaluates the call against the active policy first (a
// deny there is returned as *approval.PolicyDeniedError and sent to the
// agent as a deny), then allows it. The tool runs upstream; its result
// arrives on the stream and is audited like any other.
func (s *Service) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	u, err := s.Store.ToolUseByAction(ctx, a.TenantID, a.ID)
	if err != nil {
		return nil, err
	}
	sess, err := s.Store.Get(ctx, a.TenantID, u.SessionID)
	if err != nil {
		return nil, err
	}
	if sess.State == StateDone {
		return nil, vargate.Errorf(vargate.KindConflict, "session %s has ended; the tool call was not confirmed", sess.SessionID)
	}
	if !s.startDeciding(u.ToolUseID) {
		return nil, vargate.Errorf(vargate.KindConflict, "the tool call is being decided")
	}
	defer s.doneDeciding(u.ToolUseID)
	if u.ConfirmedAt != nil {
		if u.Decision == decisionAllow {
			return confirmationResult(u.ToolUseID, decisionAllow), nil
		}
		return nil, vargate.Errorf(vargate.KindConflict, "the tool call was already denied")
	}
	level, _ := anomaly.ParseRiskLevel(sess.RiskLevel)
	r := s.policyRuling(ctx, &sess.Target, &u, objectOrEmpty(a.Args), sess.Score, anomaly.ThresholdFor(level), 0, 0)
	if r.Decision == policy.Deny {
		_ = s.auditRuling(ctx, &sess.Target, &u, r, "re-evaluated after human approval") // the deny stands either way
		msg := denyMessage("Vargate denied this tool call after it was approved: the active policy now denies it", r.Reasons)
		u.Decision, u.DecisionNote = decisionDeny, msg
		s.answer(ctx, &sess.Target, &u, false, msg)
		return nil, &approval.PolicyDeniedError{Reasons: r.Reasons, PolicyVersion: r.PolicyVersion, DecisionID: r.DecisionID}
	}
	if err := s.sendConfirmation(ctx, &sess.Target, &u, true, ""); err != nil {
		return nil, fmt.Errorf("confirm approved tool call: %w", err)
	}
	now := s.now()
	if err := s.Store.SetDecision(context.WithoutCancel(ctx), sess.SessionID, u.ToolUseID, decisionAllow, "approved by "+a.DecidedBy, a.ID, true, now); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "store approved confirmation", slog.String(logKeyAction, a.ID), slog.Any(logKeyError, err))
	}
	return confirmationResult(u.ToolUseID, decisionAllow), nil
}

func confirmationResult(toolUseID, decision string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"tool_use_id": toolUseID, "confirmation": decision})
	return b
}

// ActionSettled answers the confirmation request of an escalated call
// that will not run: rejected, expired, or failed. Executed actions were
// answered by ExecuteApproved. Safe to call more than once.
func (s *Service) ActionSettled(ctx context.Context, a approval.Action) error {
	u, err := s.Store.ToolUseByAction(ctx, a.TenantID, a.ID)
	if err != nil {
		return err
	}
	if u.ConfirmedAt != nil || a.Status == approval.StatusExecuted || !a.Status.Final() {
		return nil
	}
	sess, err := s.Store.Get(ctx, a.TenantID, u.SessionID)
	if err != nil {
		return err
	}
	var msg string
	switch a.Status {
	case approval.StatusRejected:
		msg = "A human reviewer rejected this tool call"
		if a.Note != "" {
			msg += ": " + a.Note
		}
	case approval.StatusExpired:
		msg = "Nobody approved this tool call in time; it was not run"
	case approval.StatusCancelled:
		msg = "This tool call was cancelled before it ran"
		if a.Failure != nil && a.Failure.Message != "" {
			msg += ": " + a.Failure.Message
		}
	default:
		msg = "This tool call was approved but could not be confirmed; it was not run"
		if a.Failure != nil && a.Failure.Message != "" {
			msg += ": " + a.Failure.Message
		}
	}
	msg = cut(msg, maxDenyMessage)
	u.Decision, u.DecisionNote = decisionDeny, msg
	s.answer(ctx, &sess.Target, &u, false, msg)
	return nil
}

// denyEnded denies an escalated request of a session that ended.
func (s *Service) denyEnded(ctx context.Context, t *Target, u *ToolUse) {
	msg := "The session ended before a human decided; the tool call was not run"
	u.Decision, u.DecisionNote = decisionDeny, msg
	s.answer(ctx, t, u, false, msg)
}
