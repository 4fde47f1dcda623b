package mcpserver

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/govern"
)

// Keys of the _meta every governed result carries.
const (
	metaActionID   = "ai.vargate/action_id"
	metaDecisionID = "ai.vargate/decision_id"
	metaOutcome    = "ai.vargate/outcome"
)

// statusBody is the structured content of a result that is not the tool's
// own answer.
type statusBody struct {
	Status        govern.Status `json:"status"`
	ActionID      string        `json:"action_id"`
	Message       string        `json:"message,omitempty"`
	Reasons       []string      `json:"reasons,omitempty"`
	DecisionID    string        `json:"decision_id,omitempty"`
	PolicyVersion string        `json:"policy_version,omitempty"`
}

// toolResult turns a governed outcome into the MCP result: the tool's
// answer, a denial (isError, with the reasons), a pending approval (as the
// setup guide shows it), or a failure.
func toolResult(out govern.Outcome) *mcp.CallToolResult {
	res := &mcp.CallToolResult{Meta: mcp.Meta{
		metaActionID: out.ActionID, metaOutcome: string(out.Status),
	}}
	if out.Decision.DecisionID != "" {
		res.Meta[metaDecisionID] = out.Decision.DecisionID
	}
	body := statusBody{Status: out.Status, ActionID: out.ActionID}
	var text string
	switch out.Status {
	case govern.Executed:
		r := out.Result
		res.IsError = r.IsError
		text = r.Text
		if len(r.Structured) > 0 {
			res.StructuredContent = r.Structured
			if text == "" {
				text = string(r.Structured)
			}
		}
		res.Content = []mcp.Content{&mcp.TextContent{Text: text}}
		return res
	case govern.Pending:
		summary := out.Summary
		if summary == "" {
			summary = "call " + out.Tool
		}
		body.Reasons = out.Decision.Reasons
		body.Message = "queued for human approval"
		text = fmt.Sprintf("Action pending human approval. Action ID: %s. Your request to %s has been queued for review. "+
			"Call vargate_approval_status with this action_id to learn its outcome.", out.ActionID, summary)
	case govern.Denied:
		res.IsError = true
		body.Reasons = out.Decision.Reasons
		body.DecisionID, body.PolicyVersion = out.Decision.DecisionID, out.Decision.PolicyVersion
		text = fmt.Sprintf("Action denied by policy. Action ID: %s. Reasons: %s.", out.ActionID, strings.Join(out.Decision.Reasons, "; "))
	case govern.Invalid:
		res.IsError = true
		body.Message = out.Message
		text = fmt.Sprintf("Invalid arguments for %s: %s", out.Tool, out.Message)
	case govern.Cancelled:
		res.IsError = true
		body.Message = out.Message
		text = fmt.Sprintf("The call to %s was cancelled: %s (action ID %s).", out.Tool, out.Message, out.ActionID)
	default: // govern.Failed
		res.IsError = true
		body.Message = out.Message
		text = fmt.Sprintf("The tool %s failed: %s (action ID %s).", out.Tool, out.Message, out.ActionID)
	}
	b, _ := json.Marshal(body) // plain strings; never fails
	res.StructuredContent = json.RawMessage(b)
	res.Content = []mcp.Content{&mcp.TextContent{Text: text}}
	return res
}
