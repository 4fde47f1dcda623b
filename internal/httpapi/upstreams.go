package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/upstream"
)

// UpstreamRequest is the body of POST /mcp/upstreams: an MCP server of
// the tenant to put behind the gateway. docs/MCP.md describes it.
type UpstreamRequest struct {
	Name       string                  `json:"name"`
	URL        string                  `json:"url,omitempty"`
	Command    []string                `json:"command,omitempty"`
	Credential *UpstreamCredential     `json:"credential,omitempty"`
	Timeouts   *UpstreamTimeoutsParams `json:"timeouts,omitempty"`
}

// UpstreamPatch is the body of PATCH /mcp/upstreams/{name}; absent fields
// are kept, "credential": null removes the credential.
type UpstreamPatch struct {
	URL        *string                 `json:"url"`
	Command    *[]string               `json:"command"`
	Credential json.RawMessage         `json:"credential"`
	Timeouts   *UpstreamTimeoutsParams `json:"timeouts"`
}

// UpstreamCredential names the vault credential sent to the upstream:
// in "bearer" or "header" (param: the header), or "env" (param: the
// variable) for a stdio command.
type UpstreamCredential struct {
	ToolID string `json:"tool_id"`
	Name   string `json:"name,omitempty"`
	In     string `json:"in"`
	Param  string `json:"param,omitempty"`
}

// UpstreamTimeoutsParams bounds connecting and one call, in milliseconds
// (0: the default).
type UpstreamTimeoutsParams struct {
	ConnectMS int `json:"connect_ms"`
	CallMS    int `json:"call_ms"`
}

// UpstreamResponse is an upstream with its session's health and tools.
type UpstreamResponse struct {
	Name           string                 `json:"name"`
	URL            string                 `json:"url,omitempty"`
	Command        []string               `json:"command,omitempty"`
	Credential     *UpstreamCredential    `json:"credential,omitempty"`
	Timeouts       UpstreamTimeoutsParams `json:"timeouts"`
	Health         UpstreamHealth         `json:"health"`
	Tools          []UpstreamTool         `json:"tools"`
	PendingChanges int                    `json:"pending_changes"`
	CreatedAt      time.Time              `json:"created_at"`
	CreatedBy      string                 `json:"created_by"`
	UpdatedAt      time.Time              `json:"updated_at"`
}

// UpstreamHealth is the state of the pooled session.
type UpstreamHealth struct {
	State           string     `json:"state"`
	LastError       string     `json:"last_error,omitempty"`
	ConnectedAt     *time.Time `json:"connected_at,omitempty"`
	ListedAt        *time.Time `json:"listed_at,omitempty"`
	Server          string     `json:"server,omitempty"`
	ProtocolVersion string     `json:"protocol_version,omitempty"`
}

// UpstreamTool is one tool of an upstream: active, withheld, removed or
// unverified.
type UpstreamTool struct {
	Name   string `json:"name"`
	Tool   string `json:"tool"`
	Digest string `json:"digest,omitempty"`
	Status string `json:"status"`
}

// UpstreamChange is one difference between the pins and what the
// upstream serves.
type UpstreamChange struct {
	Tool          string          `json:"tool"`
	Kind          string          `json:"kind"`
	PinnedDigest  string          `json:"pinned_digest,omitempty"`
	CurrentDigest string          `json:"current_digest,omitempty"`
	Pinned        json.RawMessage `json:"pinned,omitempty"`
	Current       json.RawMessage `json:"current,omitempty"`
}

// UpstreamApproval is the body of POST /mcp/upstreams/{name}/approve:
// the reviewed digest of each tool to approve (tool → current_digest);
// without tools, every pending change is approved as it is now.
type UpstreamApproval struct {
	Tools map[string]string `json:"tools"`
}

func upstreamResponse(v upstream.View) UpstreamResponse {
	r := UpstreamResponse{
		Name: v.Name, URL: v.URL, Command: v.Command,
		Timeouts:       UpstreamTimeoutsParams{ConnectMS: v.Timeouts.ConnectMS, CallMS: v.Timeouts.CallMS},
		Health:         UpstreamHealth(v.Health),
		Tools:          make([]UpstreamTool, len(v.Tools)),
		PendingChanges: v.PendingChanges, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, UpdatedAt: v.UpdatedAt,
	}
	if c := v.Credential; c != nil {
		r.Credential = &UpstreamCredential{ToolID: c.ToolID, Name: c.Name, In: c.In, Param: c.Param}
	}
	for i, t := range v.Tools {
		r.Tools[i] = UpstreamTool(t)
	}
	return r
}

func changesResponse(cs []upstream.Change) []UpstreamChange {
	out := make([]UpstreamChange, len(cs))
	for i, c := range cs {
		out[i] = UpstreamChange(c)
	}
	return out
}

func (s *Server) upstreams() (*upstream.Service, error) {
	if s.Upstreams == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "upstream MCP servers are not configured")
	}
	return s.Upstreams, nil
}

func credentialOf(c *UpstreamCredential) *upstream.Credential {
	if c == nil {
		return nil
	}
	return &upstream.Credential{ToolID: c.ToolID, Name: c.Name, In: c.In, Param: c.Param}
}

func (s *Server) createUpstream(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	var req UpstreamRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	u := upstream.Upstream{Name: req.Name, URL: req.URL, Command: req.Command, Credential: credentialOf(req.Credential)}
	if t := req.Timeouts; t != nil {
		u.Timeouts = upstream.Timeouts{ConnectMS: t.ConnectMS, CallMS: t.CallMS}
	}
	v, err := svc.Create(r.Context(), p.TenantID, p.KeyID, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, upstreamResponse(v))
	return nil
}

func (s *Server) listUpstreams(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	vs, err := svc.List(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	out := make([]UpstreamResponse, len(vs))
	for i, v := range vs {
		out[i] = upstreamResponse(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"upstreams": out, "count": len(out)})
	return nil
}

func (s *Server) getUpstream(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	v, err := svc.Get(r.Context(), p.TenantID, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, upstreamResponse(v))
	return nil
}

func (s *Server) updateUpstream(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	var req UpstreamPatch
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	patch := upstream.Patch{URL: req.URL, Command: req.Command}
	if len(req.Credential) > 0 {
		var c *UpstreamCredential
		if err := json.Unmarshal(req.Credential, &c); err != nil {
			return vargate.Invalid("credential", "must be an object or null")
		}
		cred := credentialOf(c)
		patch.Credential = &cred
	}
	if t := req.Timeouts; t != nil {
		patch.Timeouts = &upstream.Timeouts{ConnectMS: t.ConnectMS, CallMS: t.CallMS}
	}
	v, err := svc.Update(r.Context(), p.TenantID, p.KeyID, r.PathValue("name"), patch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, upstreamResponse(v))
	return nil
}

func (s *Server) deleteUpstream(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), p.TenantID, p.KeyID, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) upstreamChanges(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	cs, err := svc.Changes(r.Context(), p.TenantID, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": changesResponse(cs), "count": len(cs)})
	return nil
}

func (s *Server) approveUpstream(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.upstreams()
	if err != nil {
		return err
	}
	var req UpstreamApproval
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	cs, err := svc.Approve(r.Context(), p.TenantID, p.KeyID, r.PathValue("name"), req.Tools)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"approved": changesResponse(cs), "count": len(cs)})
	return nil
}
