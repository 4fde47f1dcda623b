package tools

import (
	"encoding/json"

	"github.com/google/jsonschema-go/jsonschema"
)

// ApprovalStatusInput is the arguments of vargate_approval_status.
type ApprovalStatusInput struct {
	ActionID string `json:"action_id" jsonschema:"the action ID a pending_approval result gave"`
}

// NewApprovalStatusTool returns vargate_approval_status, whose connector
// (reading the approval queue for the caller's own actions) the governor
// provides.
func NewApprovalStatusTool(c Connector) *Tool {
	t, err := NewTool(Tool{
		Name:        ApprovalStatus,
		Title:       "Approval status",
		Description: "Check an action that is waiting for human approval: its state and, once executed, its result.",
		ReadOnly:    true,
		Schema: schemaFor[ApprovalStatusInput](func(s *jsonschema.Schema) {
			s.Properties["action_id"].MinLength = ptr(1)
			s.Properties["action_id"].MaxLength = ptr(128)
		}),
		Summary:   func(json.RawMessage) string { return "check an approval" },
		Connector: c,
	})
	if err != nil {
		panic(err)
	}
	return t
}
