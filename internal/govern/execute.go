package govern

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

var _ approval.Executor = (*Governor)(nil)

// ExecuteApproved runs an action a human approved (approval.Executor). It
// first checks the action again as if it were called now: the tool must
// still exist, the arguments must still fit, and the tenant's active
// policy must not deny it (needing approval is what it had). A deny
// returns an *approval.PolicyDeniedError and runs nothing. Then the
// connector runs with the brokered credential, for the action's ID.
func (g *Governor) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	p := vargate.Principal{TenantID: a.TenantID, Role: vargate.RoleAgent, AgentID: a.AgentID, SessionID: a.SessionID, KeyID: "approval"}
	// Read the configuration afresh: an approval may come hours later.
	cfg, err := g.Configs.ConfigFor(ctx, p)
	if err != nil {
		if unusable(err) {
			return nil, &approval.PolicyDeniedError{Reasons: []string{"agent_unavailable: the agent configuration could not be used: " + errMessage(err)}}
		}
		return nil, fmt.Errorf("agent configuration of %s: %w", a.AgentID, err)
	}
	set, err := g.Tools.Set(ctx, a.TenantID)
	if err != nil {
		return nil, fmt.Errorf("tool catalog: %w", err)
	}
	tool, ok := set.Lookup(a.Tool)
	if !ok {
		return nil, &approval.PolicyDeniedError{Reasons: []string{fmt.Sprintf("unknown_tool: tenant has no tool %q any more", a.Tool)}}
	}
	call := &tools.Call{
		TenantID: a.TenantID, AgentID: a.AgentID, SessionID: a.SessionID, ActionID: a.ID, Actor: actorOf(a),
		Tool: a.Tool, Args: a.Args, AllowedDomains: cfg.GovernanceProfile.AllowedDomains,
	}
	pcall, findings, err := policy.NewCall(a.Tool, a.Args)
	if err != nil {
		return nil, vargate.Wrap(vargate.KindInvalid, err, "the action's arguments are not valid JSON")
	}
	if err := tool.Validate(call); err != nil {
		return nil, &approval.PolicyDeniedError{Reasons: []string{"invalid_arguments: " + errMessage(err)}}
	}
	if err := tool.Precheck(call); err != nil {
		return nil, &approval.PolicyDeniedError{Reasons: []string{"invalid_arguments: " + errMessage(err)}}
	}
	describeTool(&pcall, tool)
	in, err := g.input(ctx, p, cfg, pcall, findings, false)
	if err != nil {
		if unusable(err) {
			return nil, &approval.PolicyDeniedError{Reasons: []string{"agent_unavailable: the caller's session or delegation chain could not be used: " + errMessage(err)}}
		}
		return nil, err
	}
	d, err := g.Policy.Decide(ctx, in)
	if err != nil {
		g.Logger.LogAttrs(ctx, slog.LevelError, "policy evaluation failed; not executing the approved action",
			slog.String(logKeyTenant, a.TenantID), slog.String(logKeyAction, a.ID), slog.String(logKeyError, err.Error()))
	}
	if d.Decision == policy.Deny {
		return nil, &approval.PolicyDeniedError{Reasons: d.Reasons, PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID}
	}
	res, err := g.run(ctx, tool, call)
	if err != nil {
		g.logConnectorError(ctx, p, a.Tool, a.ID, err)
		return nil, vargate.Wrap(vargate.KindOf(err), err, "%s", errMessage(err))
	}
	return resultJSON(res), nil
}

func actorOf(a approval.Action) string {
	if a.DecidedBy != "" {
		return a.DecidedBy
	}
	return approval.ActorSystem
}

// resultJSON is a connector result as one JSON value: its structured
// content, or {"text": …}; an error result says so.
func resultJSON(r tools.Result) json.RawMessage {
	body := r.Structured
	if len(body) == 0 {
		body = jsonOrNull(map[string]string{"text": r.Text})
	}
	if r.IsError {
		return jsonOrNull(map[string]any{"is_error": true, "result": body})
	}
	return body
}

// statusConnector is vargate_approval_status: an agent asks about an action
// it queued.
type statusConnector struct{ g *Governor }

// ApprovalStatusResult is the structured result of vargate_approval_status.
type ApprovalStatusResult struct {
	ActionID  string          `json:"action_id"`
	Tool      string          `json:"tool"`
	Status    approval.Status `json:"status"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	DecidedAt *time.Time      `json:"decided_at,omitempty"`
	// Reason is what the approver wrote, if anything.
	Reason     string            `json:"reason,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	Result     json.RawMessage   `json:"result,omitempty"`
	Failure    *approval.Failure `json:"failure,omitempty"`
}

// ApprovalStatusTool returns the vargate_approval_status tool, answered
// from the governor's Queue.
func (g *Governor) ApprovalStatusTool() *tools.Tool {
	return tools.NewApprovalStatusTool(statusConnector{g})
}

// Call implements tools.Connector.
func (s statusConnector) Call(ctx context.Context, c *tools.Call) (tools.Result, error) {
	if s.g.Queue == nil {
		return tools.Result{}, vargate.Errorf(vargate.KindUnavailable, "the approval queue is not available")
	}
	var in tools.ApprovalStatusInput
	if err := json.Unmarshal(c.Args, &in); err != nil {
		return tools.Result{}, vargate.Invalid("action_id", "required")
	}
	p := vargate.Principal{TenantID: c.TenantID, Role: vargate.RoleAgent, AgentID: c.AgentID, SessionID: c.SessionID}
	a, err := s.g.Queue.StatusFor(ctx, p, in.ActionID)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return tools.Result{}, vargate.Errorf(vargate.KindNotFound, "no action %q of this agent is known", in.ActionID)
		}
		return tools.Result{}, err
	}
	// The queue scopes already; an action of another agent or session is
	// never shown, whatever the queue did.
	if a.TenantID != c.TenantID || a.AgentID != c.AgentID || (c.SessionID != "" && a.SessionID != c.SessionID) {
		return tools.Result{}, vargate.Errorf(vargate.KindNotFound, "no action %q of this agent is known", in.ActionID)
	}
	out := ApprovalStatusResult{
		ActionID: a.ID, Tool: a.Tool, Status: a.Status, CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt,
		DecidedAt: a.DecidedAt, Reason: a.Note, FinishedAt: a.FinishedAt, Failure: a.Failure,
	}
	if a.Status == approval.StatusExecuted {
		out.Result = a.Result
	}
	return tools.JSONResult(out)
}
