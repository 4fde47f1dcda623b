package govern

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// Status is how a governed call ended.
type Status string

// The statuses of an Outcome.
const (
	// Executed: allowed, and the connector answered.
	Executed Status = "executed"
	// Failed: allowed, but the connector failed.
	Failed Status = "failed"
	// Denied: the policy (or the gateway, for an unusable configuration)
	// refused the call; nothing ran.
	Denied Status = "denied"
	// Pending: queued for a human; nothing ran yet.
	Pending Status = "pending_approval"
	// Invalid: the arguments do not fit the tool's schema; nothing ran.
	Invalid Status = "invalid_arguments"
)

// ErrUnknownTool is returned (wrapped, KindNotFound) for a tool the
// tenant does not have.
var ErrUnknownTool = errors.New("unknown tool")

// Outcome is the result of one governed call.
type Outcome struct {
	Status   Status
	ActionID string
	Tool     string
	// Decision is the policy decision (zero for Invalid).
	Decision policy.Decision
	// Result is the connector's answer when Executed.
	Result tools.Result
	// Message explains a Failed or Invalid outcome to the agent.
	Message string
	// Summary describes a queued call for people ("send an email to …").
	Summary string
	// Audit is the call's audit record, as committed.
	Audit audit.Record
}

// Call governs one tool call by principal p. A returned Outcome has been
// audited (committed) already. An error means the call could not be
// governed or recorded and nothing should be answered but a failure;
// ErrUnknownTool (KindNotFound) is one such error.
func (g *Governor) Call(ctx context.Context, p vargate.Principal, name string, args json.RawMessage) (Outcome, error) {
	start := time.Now()
	tr := trace{start: start}
	if p.Role != vargate.RoleAgent {
		return Outcome{}, vargate.Errorf(vargate.KindForbidden, "only agent credentials may call tools")
	}
	out := Outcome{ActionID: uuid.NewString(), Tool: name}
	rec := audit.Record{
		TenantID: p.TenantID, Time: g.Now(), Source: audit.SourceMCPGoverned, SessionID: p.SessionID, AgentID: p.AgentID,
		ActionID: out.ActionID, Tool: name, Actor: actor(p),
	}
	set, err := g.Tools.Set(ctx, p.TenantID)
	if err != nil {
		return Outcome{}, fmt.Errorf("tool catalog: %w", err)
	}
	tool, ok := set.Lookup(name)
	if !ok {
		if err := g.RecordUnknown(ctx, p, name, args); err != nil {
			return Outcome{}, err
		}
		return Outcome{}, &vargate.Error{Kind: vargate.KindNotFound, Message: fmt.Sprintf("unknown tool %q", name), Err: ErrUnknownTool}
	}
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	pcall, findings, err := policy.NewCall(name, args)
	rec.ArgsDigest = pcall.ArgumentsDigest
	if err != nil {
		rec.ArgsDigest = policy.Digest(args)
		out.Status, out.Message = Invalid, "the arguments are not valid JSON"
		return g.finish(ctx, &out, rec, tr, nil)
	}
	rec.ArgsRedacted = redact(args, findings)
	cfg, err := g.ConfigFor(ctx, p)
	if err != nil {
		if !unusable(err) {
			return Outcome{}, fmt.Errorf("agent configuration of %s: %w", p.AgentID, err)
		}
		// The credential is valid but its configuration is gone: deny,
		// on the record.
		out.Status = Denied
		out.Decision = policy.Decision{Decision: policy.Deny, Reasons: []string{"agent_unavailable: the agent configuration could not be used: " + errMessage(err)}}
		return g.finish(ctx, &out, rec, tr, nil)
	}
	call := &tools.Call{
		TenantID: p.TenantID, AgentID: p.AgentID, SessionID: p.SessionID, ActionID: out.ActionID,
		Actor: actor(p), Tool: name, Args: args, AllowedDomains: cfg.GovernanceProfile.AllowedDomains,
	}
	if err := tool.Validate(call); err != nil {
		out.Status, out.Message = Invalid, errMessage(err)
		return g.finish(ctx, &out, rec, tr, nil)
	}
	describeTool(&pcall, tool)
	in, err := g.input(ctx, p, cfg, pcall, findings, true)
	if err != nil {
		if !unusable(err) {
			return Outcome{}, err
		}
		out.Status = Denied
		out.Decision = policy.Decision{Decision: policy.Deny, Reasons: []string{"agent_unavailable: the caller's session or delegation chain could not be used: " + errMessage(err)}}
		return g.finish(ctx, &out, rec, tr, nil)
	}
	tr.policyStart = time.Now()
	d, err := g.Policy.Decide(ctx, in)
	tr.policyEnd = time.Now()
	if err != nil {
		// d is a deny (the engine fails closed); the cause is for operators.
		g.Logger.LogAttrs(ctx, slog.LevelError, "policy evaluation failed; denying",
			slog.String(logKeyTenant, p.TenantID), slog.String(logKeyTool, name),
			slog.String(logKeyDecision, d.DecisionID), slog.String(logKeyError, err.Error()))
	}
	out.Decision = d
	if d.Decision != policy.Deny {
		// The connector's own checks: a call that could never run is not
		// worth running or queueing.
		if err := tool.Precheck(call); err != nil {
			out.Status, out.Message = Invalid, errMessage(err)
			return g.finish(ctx, &out, rec, tr, in)
		}
	}
	switch d.Decision {
	case policy.Allow:
		tr.connStart = time.Now()
		out.Result, err = g.run(ctx, tool, call)
		tr.connEnd = time.Now()
		if err != nil {
			out.Status, out.Message = Failed, errMessage(err)
			g.logConnectorError(ctx, p, name, out.ActionID, err)
		} else {
			out.Status = Executed
			rec.ResultDigest = resultDigest(out.Result)
		}
	case policy.RequireApproval:
		if g.Queue == nil {
			out.Status, out.Message = Failed, "this call needs human approval, but the approval queue is not available"
			break
		}
		a, err := g.Queue.Enqueue(ctx, approval.Request{
			ID: out.ActionID, TenantID: p.TenantID, SessionID: p.SessionID, AgentID: p.AgentID, KeyID: p.KeyID, Tool: name,
			Args: args, ArgsDigest: pcall.ArgumentsDigest, ArgsRedacted: rec.ArgsRedacted,
			PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID, Reasons: d.Reasons, Sensitive: len(findings) > 0,
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("queue action for approval: %w", err)
		}
		out.ActionID, rec.ActionID = a.ID, a.ID
		out.Status = Pending
		if tool.Summary != nil {
			out.Summary = tool.Summary(args)
		}
	default:
		out.Status = Denied
	}
	return g.finish(ctx, &out, rec, tr, in)
}

// unusable reports whether err says the caller's configuration, session
// or chain cannot be used (a deny on the record) rather than that the
// gateway failed (an error).
func unusable(err error) bool {
	switch vargate.KindOf(err) {
	case vargate.KindNotFound, vargate.KindForbidden, vargate.KindInvalid:
		return true
	}
	return false
}

// RecordUnknown audits a call of a tool the tenant does not have (a
// probe, or a stale tool list): a deny with reason unknown_tool.
func (g *Governor) RecordUnknown(ctx context.Context, p vargate.Principal, name string, args json.RawMessage) error {
	out := Outcome{ActionID: uuid.NewString(), Tool: name, Status: Denied,
		Decision: policy.Decision{Decision: policy.Deny, Reasons: []string{fmt.Sprintf("unknown_tool: tenant has no tool %q", name)}}}
	rec := audit.Record{
		TenantID: p.TenantID, Time: g.Now(), Source: audit.SourceMCPGoverned, SessionID: p.SessionID, AgentID: p.AgentID,
		ActionID: out.ActionID, Tool: truncate(name, 256), Actor: actor(p), ArgsDigest: policy.Digest(args),
	}
	if len(args) > 0 && json.Valid(args) {
		if fs, err := pii.Scan(args); err == nil {
			rec.ArgsRedacted = redact(args, fs)
		}
	}
	_, err := g.finish(ctx, &out, rec, trace{start: time.Now()}, nil)
	return err
}

// input builds the policy input for a call: a new one (reserve, counted
// in the session's budget) or a queued one re-evaluated.
func (g *Governor) input(ctx context.Context, p vargate.Principal, cfg agent.Config, c policy.Call, findings []pii.Finding, reserve bool) (*policy.Input, error) {
	facts := CallerFacts{Session: policy.Session{ID: p.SessionID}}
	if cfg.ParentAgentID != "" {
		facts.DelegationDepth = 1 // at least; Facts knows the whole chain
	}
	if g.Facts != nil {
		var f CallerFacts
		var err error
		if r, ok := g.Facts.(FactsReader); ok && !reserve {
			f, err = r.CurrentFacts(ctx, p)
		} else {
			f, err = g.Facts.Facts(ctx, p)
		}
		if err != nil {
			return nil, fmt.Errorf("session facts: %w", err)
		}
		facts = f
		facts.Session.ID = p.SessionID
	}
	return &policy.Input{
		Tenant: policy.Tenant{ID: p.TenantID},
		Agent: policy.Agent{
			ID:                   cfg.ID,
			AllowedTools:         allowedTools(cfg),
			RequireHumanApproval: cfg.RequireHumanApproval,
			GovernanceProfile: policy.GovernanceProfile{
				RiskLevel: cfg.GovernanceProfile.RiskLevel, PIIDetection: cfg.GovernanceProfile.PIIDetection,
			},
			Delegation: policy.Delegation{Depth: facts.DelegationDepth, MaxDepth: cfg.MaxDelegationDepth},
		},
		Session: facts.Session,
		Call:    c,
		PII:     findings,
		Time:    g.Now(),
	}, nil
}

// run executes the connector under the call timeout. A panic in a
// connector is a failed call, not a dead gateway.
func (g *Governor) run(ctx context.Context, tool *tools.Tool, call *tools.Call) (res tools.Result, err error) {
	timeout := g.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("connector %s panicked: %v", tool.Name, v)
		}
	}()
	return tool.Connector.Call(ctx, call)
}

// trace holds the timings of one call.
type trace struct {
	start, policyStart, policyEnd, connStart, connEnd time.Time
}

func micros(a, b time.Time) int64 {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return b.Sub(a).Microseconds()
}

// finish writes the call's audit record, emits action.denied for a
// policy deny, and returns the outcome.
func (g *Governor) finish(ctx context.Context, out *Outcome, rec audit.Record, tr trace, in *policy.Input) (Outcome, error) {
	d := out.Decision
	rec.Decision, rec.PolicyVersion, rec.DecisionID, rec.Reasons = d.Decision, d.PolicyVersion, d.DecisionID, d.Reasons
	if out.Status == Invalid {
		rec.Decision = policy.Deny
		rec.Reasons = []string{"invalid_arguments: " + truncate(out.Message, 1000)}
	}
	detail := auditDetail{
		Outcome: out.Status,
		Error:   out.Message,
		Latency: latency{
			PolicyUS:    micros(tr.policyStart, tr.policyEnd),
			ConnectorUS: micros(tr.connStart, tr.connEnd),
			TotalUS:     time.Since(tr.start).Microseconds(),
		},
	}
	if in != nil {
		// The input the policy saw, for replay, with the arguments redacted.
		ri := *in
		ri.Call.Arguments = rec.ArgsRedacted
		if len(ri.Call.Arguments) == 0 {
			ri.Call.Arguments = in.Call.Arguments
		}
		detail.Input = &ri
	}
	var err error
	if rec.Detail, err = json.Marshal(detail); err != nil {
		return Outcome{}, fmt.Errorf("encode audit detail: %w", err)
	}
	// The record must be committed even if the client has gone: the call
	// happened (or was refused) either way.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.auditTimeout())
	defer cancel()
	out.Audit, err = g.Audit.Append(actx, rec)
	if err != nil {
		g.Logger.LogAttrs(ctx, slog.LevelError, "cannot audit governed call",
			slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyTool, rec.Tool),
			slog.String(logKeyAction, rec.ActionID), slog.String(logKeyError, err.Error()))
		return Outcome{}, fmt.Errorf("audit governed call: %w", err)
	}
	if o, ok := g.Facts.(DecisionObserver); ok && rec.SessionID != "" && in != nil {
		if err := o.Decided(actx, rec.TenantID, rec.SessionID, rec.Decision); err != nil {
			g.Logger.LogAttrs(ctx, slog.LevelError, "cannot count the session's decision",
				slog.String(logKeyTenant, rec.TenantID), slog.String(logKeySession, rec.SessionID), slog.String(logKeyError, err.Error()))
		}
	}
	if out.Status == Denied && g.Events != nil {
		data := map[string]any{
			"action_id": out.ActionID, "tool": out.Tool, "session_id": rec.SessionID, "agent_id": rec.AgentID,
			"reasons": rec.Reasons, "policy_version": rec.PolicyVersion, "decision_id": rec.DecisionID,
			"arguments": rec.ArgsRedacted, "audit_seq": out.Audit.Seq,
		}
		if err := g.Events.Emit(actx, rec.TenantID, EventDenied, data); err != nil {
			// The denial is on the record; a lost notification is logged.
			g.Logger.LogAttrs(ctx, slog.LevelError, "cannot emit webhook",
				slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyAction, rec.ActionID), slog.String(logKeyError, err.Error()))
		}
	}
	return *out, nil
}

func (g *Governor) auditTimeout() time.Duration {
	if g.AuditTimeout > 0 {
		return g.AuditTimeout
	}
	return DefaultAuditTimeout
}

// auditDetail is the Detail of an mcp_governed record.
type auditDetail struct {
	Outcome Status        `json:"outcome"`
	Error   string        `json:"error,omitempty"`
	Latency latency       `json:"latency_us"`
	Input   *policy.Input `json:"input,omitempty"`
}

type latency struct {
	PolicyUS    int64 `json:"policy"`
	ConnectorUS int64 `json:"connector"`
	TotalUS     int64 `json:"total"`
}

// redact returns the arguments with the findings redacted (compact, sorted
// members), or as they are when nothing was found.
func redact(args json.RawMessage, findings []pii.Finding) json.RawMessage {
	if len(findings) == 0 {
		return args
	}
	r, err := pii.Redact(args)
	if err != nil {
		return nil
	}
	return r
}

// resultDigest is the SHA-256 of what the agent is sent as structured content.
func resultDigest(r tools.Result) string {
	b := r.Structured
	if len(b) == 0 {
		b = []byte(r.Text)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// actor is the credential that made the call.
func actor(p vargate.Principal) string {
	if p.KeyID != "" {
		return p.KeyID
	}
	return p.SessionID
}

// errMessage is what the agent is told about err: the message of a
// vargate error, a generic text for anything else.
func errMessage(err error) string {
	var ve *vargate.Error
	if errors.As(err, &ve) && ve.Kind != vargate.KindInternal {
		msg := ve.Message
		if ve.Field != "" && ve.Field != "arguments" {
			msg = ve.Field + ": " + msg
		}
		return msg
	}
	return "the tool failed; the action ID identifies it in the gateway's log"
}

func (g *Governor) logConnectorError(ctx context.Context, p vargate.Principal, tool, actionID string, err error) {
	level := slog.LevelWarn
	if vargate.KindOf(err) == vargate.KindInternal {
		level = slog.LevelError
	}
	g.Logger.LogAttrs(ctx, level, "governed tool failed",
		slog.String(logKeyTenant, p.TenantID), slog.String(logKeyTool, tool),
		slog.String(logKeyAction, actionID), slog.String(logKeyError, err.Error()))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
