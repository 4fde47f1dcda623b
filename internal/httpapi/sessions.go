package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
)

// CreateSessionRequest is the body of POST /managed/sessions.
type CreateSessionRequest struct {
	AgentID     string `json:"agent_id"`
	UserMessage string `json:"user_message"`
	// ParentSessionID names the running session of the parent agent that
	// delegates to this one (multi-agent; optional).
	ParentSessionID string `json:"parent_session_id,omitempty"`
	// Metadata is passed to the Anthropic session.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// SessionResponse is a governed session, with the setup guide's fields
// first.
type SessionResponse struct {
	SessionID          string     `json:"session_id"`
	AnthropicSessionID string     `json:"anthropic_session_id"`
	TenantID           string     `json:"tenant_id"`
	AgentID            string     `json:"agent_id"`
	Status             string     `json:"status"`
	SystemPromptHash   string     `json:"system_prompt_hash"`
	Governance         string     `json:"governance"`
	MCPServerURL       string     `json:"mcp_server_url"`
	CreatedAt          time.Time  `json:"created_at"`
	AgentVersion       int        `json:"agent_version"`
	DelegationChain    []string   `json:"delegation_chain"`
	ParentSessionID    *string    `json:"parent_session_id"`
	StopReason         string     `json:"stop_reason,omitempty"`
	EndReason          string     `json:"end_reason,omitempty"`
	UpdatedAt          time.Time  `json:"updated_at"`
	ExpiresAt          time.Time  `json:"expires_at"`
	EndedAt            *time.Time `json:"ended_at"`
}

func sessionResponse(s session.Session) SessionResponse {
	r := SessionResponse{
		SessionID: s.ID, AnthropicSessionID: s.AnthropicSessionID, TenantID: s.TenantID, AgentID: s.AgentID,
		Status: string(s.Status), SystemPromptHash: s.SystemPromptHash, Governance: "active", MCPServerURL: s.MCPServerURL,
		CreatedAt: s.CreatedAt, AgentVersion: s.AgentVersion, DelegationChain: nonNil(s.DelegationChain),
		StopReason: s.StopReason, EndReason: s.EndReason, UpdatedAt: s.UpdatedAt, ExpiresAt: s.ExpiresAt, EndedAt: s.EndedAt,
	}
	if s.ParentSessionID != "" {
		r.ParentSessionID = &s.ParentSessionID
	}
	if s.Status.Final() {
		r.Governance = "ended"
	}
	return r
}

// SessionStatusResponse is GET /managed/sessions/{id}/status: the guide's
// flat counters.
type SessionStatusResponse struct {
	SessionID          string     `json:"session_id"`
	Status             string     `json:"status"`
	TotalGovernedCalls int        `json:"total_governed_calls"`
	TotalObservedCalls int        `json:"total_observed_calls"`
	TotalDenied        int        `json:"total_denied"`
	TotalPending       int        `json:"total_pending"`
	SystemPromptHash   string     `json:"system_prompt_hash"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	ExpiresAt          time.Time  `json:"expires_at"`
	EndedAt            *time.Time `json:"ended_at"`
	StopReason         string     `json:"stop_reason,omitempty"`
	EndReason          string     `json:"end_reason,omitempty"`
}

// SessionMessageRequest is the body of POST /managed/sessions/{id}/messages.
type SessionMessageRequest struct {
	Message string `json:"message"`
}

// SessionSettingsRequest is the body of PUT /managed/settings: the
// tenant's overrides; null (or omitted) restores the gateway's default.
type SessionSettingsRequest struct {
	GovernancePromptTemplate *string `json:"governance_prompt_template"`
	MaxConcurrentSessions    *int    `json:"max_concurrent_sessions"`
	MaxDailySessions         *int    `json:"max_daily_sessions"`
}

// SessionSettingsResponse shows the tenant's overrides and the effective
// values.
type SessionSettingsResponse struct {
	GovernancePromptTemplate  *string   `json:"governance_prompt_template"`
	MaxConcurrentSessions     *int      `json:"max_concurrent_sessions"`
	MaxDailySessions          *int      `json:"max_daily_sessions"`
	DefaultGovernanceTemplate string    `json:"default_governance_prompt_template"`
	Placeholders              []string  `json:"placeholders"`
	UpdatedAt                 time.Time `json:"updated_at,omitzero"`
}

// AuditEvent is one record of a session's audit trail.
type AuditEvent struct {
	Seq           int64           `json:"seq"`
	Time          time.Time       `json:"time"`
	Source        string          `json:"source"`
	AgentID       string          `json:"agent_id,omitempty"`
	ActionID      string          `json:"action_id,omitempty"`
	Tool          string          `json:"tool,omitempty"`
	Decision      string          `json:"decision,omitempty"`
	Reasons       []string        `json:"reasons,omitempty"`
	PolicyVersion string          `json:"policy_version,omitempty"`
	DecisionID    string          `json:"decision_id,omitempty"`
	ArgsDigest    string          `json:"args_digest,omitempty"`
	ArgsRedacted  json.RawMessage `json:"args_redacted,omitempty"`
	ResultDigest  string          `json:"result_digest,omitempty"`
	// Outcome is how a governed call ended (executed, failed, denied, …).
	Outcome string          `json:"outcome,omitempty"`
	Anomaly json.RawMessage `json:"anomaly,omitempty"`
	Actor   string          `json:"actor,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
	Hash    string          `json:"hash"`
}

func auditEvent(r audit.Record) AuditEvent {
	return AuditEvent{
		Seq: r.Seq, Time: r.Time, Source: string(r.Source), AgentID: r.AgentID, ActionID: r.ActionID, Tool: r.Tool,
		Decision: r.Decision, Reasons: r.Reasons, PolicyVersion: r.PolicyVersion, DecisionID: r.DecisionID,
		ArgsDigest: r.ArgsDigest, ArgsRedacted: r.ArgsRedacted, ResultDigest: r.ResultDigest, Anomaly: r.Anomaly,
		Outcome: string(r.Outcome), Actor: r.Actor, Detail: r.Detail, Hash: r.Hash.String(),
	}
}

func (s *Server) sessions() (*session.Service, error) {
	if s.Sessions == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "managed sessions are not configured")
	}
	return s.Sessions, nil
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	var req CreateSessionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	sess, err := svc.Create(r.Context(), session.CreateRequest{
		TenantID: p.TenantID, AgentID: req.AgentID, UserMessage: req.UserMessage,
		ParentSessionID: req.ParentSessionID, Metadata: req.Metadata, Actor: p.KeyID,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sessionResponse(sess))
	return nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := session.Filter{Status: session.Status(q.Get("status")), AgentID: q.Get("agent_id")}
	if f.Limit, err = queryLimit(q, session.MaxListLimit); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			if *t.dst, err = time.Parse(time.RFC3339, v); err != nil {
				return vargate.Invalid(t.name, "must be an RFC 3339 time")
			}
		}
	}
	if f.Before, f.BeforeID, err = decodeCursor(q.Get("cursor")); err != nil {
		return err
	}
	list, err := svc.List(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	out := make([]SessionResponse, len(list))
	for i, sess := range list {
		out[i] = sessionResponse(sess)
	}
	body := map[string]any{"sessions": out, "count": len(out), "tenant_id": p.TenantID, "next_cursor": nil}
	if len(list) > 0 && len(list) == f.EffectiveLimit() {
		last := list[len(list)-1]
		body["next_cursor"] = encodeCursor(last.CreatedAt, last.ID)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	sess, err := svc.Get(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionResponse(sess))
	return nil
}

func (s *Server) sessionStatus(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	sess, c, err := svc.Status(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SessionStatusResponse{
		SessionID: sess.ID, Status: string(sess.Status), TotalGovernedCalls: c.GovernedCalls,
		TotalObservedCalls: c.ObservedCalls, TotalDenied: c.Denied, TotalPending: c.Pending,
		SystemPromptHash: sess.SystemPromptHash, CreatedAt: sess.CreatedAt, UpdatedAt: sess.UpdatedAt,
		ExpiresAt: sess.ExpiresAt, EndedAt: sess.EndedAt, StopReason: sess.StopReason, EndReason: sess.EndReason,
	})
	return nil
}

func (s *Server) sessionAudit(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := queryLimit(q, session.MaxListLimit)
	if err != nil {
		return err
	}
	var after int64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return vargate.Invalid("after", "must be a record seq (a whole number)")
		}
	}
	id := r.PathValue("id")
	recs, err := svc.AuditTrail(r.Context(), p.TenantID, id, after, limit)
	if err != nil {
		return err
	}
	events := make([]AuditEvent, len(recs))
	for i, rec := range recs {
		events[i] = auditEvent(rec)
	}
	body := map[string]any{"session_id": id, "events": events, "count": len(events), "next_after": nil}
	if n := len(recs); n > 0 && n == clampSessionLimit(limit) {
		body["next_after"] = recs[n-1].Seq
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func clampSessionLimit(n int) int { return session.Filter{Limit: n}.EffectiveLimit() }

func (s *Server) sendSessionMessage(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	var req SessionMessageRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	sess, err := svc.SendMessage(r.Context(), p.TenantID, r.PathValue("id"), req.Message, p.KeyID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sessionResponse(sess))
	return nil
}

func (s *Server) getSessionSettings(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	st, err := svc.Settings(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsResponse(st))
	return nil
}

func (s *Server) putSessionSettings(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.sessions()
	if err != nil {
		return err
	}
	var req SessionSettingsRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	st, err := svc.SaveSettings(r.Context(), session.Settings{
		TenantID: p.TenantID, GovernanceTemplate: req.GovernancePromptTemplate,
		MaxConcurrent: req.MaxConcurrentSessions, MaxDaily: req.MaxDailySessions,
	}, p.KeyID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsResponse(st))
	return nil
}

func settingsResponse(st session.Settings) SessionSettingsResponse {
	return SessionSettingsResponse{
		GovernancePromptTemplate: st.GovernanceTemplate, MaxConcurrentSessions: st.MaxConcurrent,
		MaxDailySessions: st.MaxDaily, DefaultGovernanceTemplate: session.DefaultGovernanceTemplate,
		Placeholders: session.Placeholders, UpdatedAt: st.UpdatedAt,
	}
}
