package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
)

// DecisionRequest is the optional body of POST /approve/{id} and
// POST /reject/{id}. Note is accepted as an alias of Reason (the
// prototype's name); an empty body is fine.
type DecisionRequest struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

// ApprovalResponse is a queued action. Arguments and Result are the exact
// values: they are shown to the roles that decide (admin, approver), and
// to auditors only for actions without personal data or secrets. Listings
// carry neither, only the redacted arguments.
type ApprovalResponse struct {
	ID                string            `json:"id"`
	Status            approval.Status   `json:"status"`
	Tool              string            `json:"tool"`
	SessionID         string            `json:"session_id,omitempty"`
	AgentID           string            `json:"agent_id,omitempty"`
	Arguments         json.RawMessage   `json:"arguments,omitempty"`
	ArgumentsRedacted json.RawMessage   `json:"arguments_redacted,omitempty"`
	ArgsDigest        string            `json:"args_digest"`
	Sensitive         bool              `json:"sensitive"`
	PolicyVersion     string            `json:"policy_version,omitempty"`
	DecisionID        string            `json:"decision_id,omitempty"`
	Reasons           []string          `json:"reasons"`
	CreatedAt         time.Time         `json:"created_at"`
	ExpiresAt         time.Time         `json:"expires_at"`
	DecidedAt         *time.Time        `json:"decided_at,omitempty"`
	DecidedBy         string            `json:"decided_by,omitempty"`
	Reason            string            `json:"reason,omitempty"`
	FinishedAt        *time.Time        `json:"finished_at,omitempty"`
	Result            json.RawMessage   `json:"result,omitempty"`
	ResultDigest      string            `json:"result_digest,omitempty"`
	Failure           *approval.Failure `json:"failure,omitempty"`
	History           []approval.Event  `json:"history,omitempty"`
	// HiddenText lists the argument values (of Arguments when shown, else
	// of ArgumentsRedacted) holding invisible or direction-changing
	// characters, each escaped and with a warning ("this value contains
	// hidden direction marks"): a client shows them before the decision.
	HiddenText []approval.HiddenText `json:"hidden_text,omitempty"`
}

func approvalResponse(a approval.Action, role vargate.Role) ApprovalResponse {
	resp := ApprovalResponse{
		ID: a.ID, Status: a.Status, Tool: a.Tool, SessionID: a.SessionID, AgentID: a.AgentID,
		ArgumentsRedacted: a.ArgsRedacted, ArgsDigest: a.ArgsDigest, Sensitive: a.Sensitive,
		PolicyVersion: a.PolicyVersion, DecisionID: a.DecisionID, Reasons: nonNilReasons(a.Reasons),
		CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt, DecidedAt: a.DecidedAt, DecidedBy: a.DecidedBy,
		Reason: a.Note, FinishedAt: a.FinishedAt, ResultDigest: a.ResultDigest, Failure: a.Failure,
		History: a.History,
	}
	if role.CanDecide() || !a.Sensitive {
		resp.Arguments, resp.Result = a.Args, a.Result
	}
	if len(resp.Arguments) > 0 {
		resp.HiddenText = approval.FindHidden(resp.Arguments)
	} else {
		resp.HiddenText = approval.FindHidden(resp.ArgumentsRedacted)
	}
	return resp
}

func nonNilReasons(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ApprovalListResponse is GET /approvals: the matching actions (pending
// ones unless ?status= says otherwise), newest first, and the tenant's
// count in each status. NextBefore, when set, fetches the next (older)
// page as ?before=….
type ApprovalListResponse struct {
	Approvals  []ApprovalResponse      `json:"approvals"`
	Count      int                     `json:"count"`
	Stats      map[approval.Status]int `json:"stats"`
	NextBefore string                  `json:"next_before,omitempty"`
}

func (s *Server) approvals() (*approval.Service, error) {
	if s.Approvals == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "the approval queue is not configured")
	}
	return s.Approvals, nil
}

// listApprovals serves GET /approvals?status=&agent_id=&session_id=&tool=&limit=&before=.
// status defaults to pending; "all" lists every status.
func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.approvals()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := approval.Filter{Status: approval.StatusPending, AgentID: q.Get("agent_id"), SessionID: q.Get("session_id"), Tool: q.Get("tool")}
	switch st := q.Get("status"); st {
	case "":
	case "all":
		f.Status = ""
	default:
		f.Status = approval.Status(st)
		if !f.Status.Valid() {
			return vargate.Invalid("status", "must be all or one of %v", approval.Statuses())
		}
	}
	if f.Limit, err = queryLimit(q, approval.MaxListLimit); err != nil {
		return err
	}
	if f.Before, err = queryBefore(q); err != nil {
		return err
	}
	list, err := svc.List(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	stats, err := svc.Counts(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	resp := ApprovalListResponse{Approvals: make([]ApprovalResponse, 0, len(list)), Count: len(list), Stats: stats}
	for _, a := range list {
		resp.Approvals = append(resp.Approvals, approvalResponse(a, p.Role))
	}
	if len(list) > 0 && len(list) == f.EffectiveLimit() {
		resp.NextBefore = list[len(list)-1].CreatedAt.Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getApproval serves GET /approvals/{id}: the action with its history.
func (s *Server) getApproval(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.approvals()
	if err != nil {
		return err
	}
	a, err := svc.Get(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvalResponse(a, p.Role))
	return nil
}

func decisionReason(r *http.Request) (string, error) {
	var req DecisionRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return "", err
	}
	if req.Reason != "" && req.Note != "" && req.Reason != req.Note {
		return "", vargate.Invalid("note", "is an alias of reason; send one of them")
	}
	if req.Reason != "" {
		return req.Reason, nil
	}
	return req.Note, nil
}

// approve serves POST /approve/{id}: approve and run the action, and
// answer with how it ended (executed, or failed and why). A decision that
// lost a race, or came after expiry, is 409.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.approvals()
	if err != nil {
		return err
	}
	reason, err := decisionReason(r)
	if err != nil {
		return err
	}
	a, err := svc.Approve(r.Context(), p, r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvalResponse(a, p.Role))
	return nil
}

// reject serves POST /reject/{id} with an optional {"reason": …}; the
// reason reaches the agent.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.approvals()
	if err != nil {
		return err
	}
	reason, err := decisionReason(r)
	if err != nil {
		return err
	}
	a, err := svc.Reject(r.Context(), p, r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvalResponse(a, p.Role))
	return nil
}
