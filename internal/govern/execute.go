package govern

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

var _ approval.Executor = (*Governor)(nil)

// ExecuteApproved runs an action a human approved (approval.Executor).
// It goes through the same preparation as Call, at the moment it runs:
// the agent configuration is read afresh, the session must still be live
// and the agent not archived, the tool must still be allowed and exist,
// the arguments must still fit, and the tenant's active policy must not
// deny it (needing approval is what it had). A refusal returns an
// *approval.PolicyDeniedError and runs nothing. Then the connector runs
// with the brokered credential, for the action's ID.
func (g *Governor) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	p := vargate.Principal{TenantID: a.TenantID, Role: vargate.RoleAgent, AgentID: a.AgentID, SessionID: a.SessionID, KeyID: "approval"}
	set, err := g.Tools.Set(ctx, a.TenantID)
	if err != nil {
		return nil, fmt.Errorf("tool catalog: %w", err)
	}
	tool, ok := set.Lookup(a.Tool)
	if !ok {
		return nil, &approval.PolicyDeniedError{Reasons: []string{fmt.Sprintf("unknown_tool: tenant has no tool %q any more", a.Tool)}}
	}
	args, err := DecodeArgs(a.Args)
	if err != nil {
		return nil, &approval.PolicyDeniedError{Reasons: []string{"invalid_arguments: " + errMessage(err)}}
	}
	prep, err := g.prepare(ctx, p, tool, args, a.ID, actorOf(a), true)
	if err != nil {
		return nil, err
	}
	switch {
	case prep.status == Invalid:
		return nil, &approval.PolicyDeniedError{Reasons: []string{"invalid_arguments: " + prep.message}}
	case prep.status != "":
		d := prep.decision
		return nil, &approval.PolicyDeniedError{Reasons: d.Reasons, PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID}
	case prep.decision.Decision == policy.Deny:
		d := prep.decision
		return nil, &approval.PolicyDeniedError{Reasons: d.Reasons, PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID}
	}
	res, err := g.run(ctx, tool, prep.call)
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
