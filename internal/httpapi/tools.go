package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/tools"
)

// ToolRequest is the body of POST /tools: an HTTP tool the tenant
// declares. Agents see name, description and input_schema in tools/list;
// each call fills the request template with the arguments and sends it
// with the referenced credential. docs/MCP.md describes the template.
type ToolRequest struct {
	Name        string              `json:"name"`
	Description string              `json:"description"`
	InputSchema json.RawMessage     `json:"input_schema"`
	Request     ToolRequestTemplate `json:"request"`
	Credential  *ToolCredentialRef  `json:"credential,omitempty"`
	ReadOnly    bool                `json:"read_only,omitempty"`
}

// ToolRequestTemplate is the request a tenant tool makes.
type ToolRequestTemplate struct {
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url"`
	Query   map[string]string `json:"query,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// ToolCredentialRef names the credential (registered through
// /credentials/register) a tenant tool's request carries, and where: in
// "header" (param: the header name), "query" (param: the parameter),
// "bearer" or "basic".
type ToolCredentialRef struct {
	ToolID string `json:"tool_id"`
	Name   string `json:"name,omitempty"`
	In     string `json:"in"`
	Param  string `json:"param,omitempty"`
}

// ToolResponse is a tenant tool's definition as stored.
type ToolResponse struct {
	Name        string              `json:"name"`
	Description string              `json:"description"`
	InputSchema json.RawMessage     `json:"input_schema"`
	Request     ToolRequestTemplate `json:"request"`
	Credential  *ToolCredentialRef  `json:"credential,omitempty"`
	ReadOnly    bool                `json:"read_only"`
	CreatedAt   time.Time           `json:"created_at"`
	CreatedBy   string              `json:"created_by"`
}

func toolResponse(t tools.TenantTool) ToolResponse {
	r := ToolResponse{
		Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, ReadOnly: t.ReadOnly,
		CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy,
		Request: ToolRequestTemplate{Method: t.Request.Method, URL: t.Request.URL, Query: t.Request.Query, Headers: t.Request.Headers, Body: t.Request.Body},
	}
	if c := t.Credential; c != nil {
		r.Credential = &ToolCredentialRef{ToolID: c.ToolID, Name: c.Name, In: c.In, Param: c.Param}
	}
	return r
}

func (s *Server) tools() (*tools.Catalog, error) {
	if s.Tools == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "tenant tools are not configured")
	}
	return s.Tools, nil
}

func (s *Server) createTool(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	cat, err := s.tools()
	if err != nil {
		return err
	}
	var req ToolRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	def := tools.TenantTool{
		Name: req.Name, Description: req.Description, InputSchema: req.InputSchema, ReadOnly: req.ReadOnly,
		Request: tools.RequestTemplate{Method: req.Request.Method, URL: req.Request.URL, Query: req.Request.Query,
			Headers: req.Request.Headers, Body: req.Request.Body},
	}
	if c := req.Credential; c != nil {
		def.Credential = &tools.CredentialRef{ToolID: c.ToolID, Name: c.Name, In: c.In, Param: c.Param}
	}
	t, err := cat.Create(r.Context(), p.TenantID, p.KeyID, def)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toolResponse(t))
	return nil
}

func (s *Server) listTools(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	cat, err := s.tools()
	if err != nil {
		return err
	}
	ts, err := cat.List(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	out := make([]ToolResponse, len(ts))
	for i, t := range ts {
		out[i] = toolResponse(t)
	}
	builtins := []string{}
	for _, b := range cat.Builtins() {
		builtins = append(builtins, b.Name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tools": out, "count": len(out), "builtin_tools": builtins})
	return nil
}

func (s *Server) getTool(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	cat, err := s.tools()
	if err != nil {
		return err
	}
	t, err := cat.Get(r.Context(), p.TenantID, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toolResponse(t))
	return nil
}

func (s *Server) deleteTool(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	cat, err := s.tools()
	if err != nil {
		return err
	}
	if err := cat.Delete(r.Context(), p.TenantID, p.KeyID, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
