package httpapi

import (
	"net/http"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
)

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	t, err := s.Auth.Store.GetTenant(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": t.ID, "name": t.Name, "created_at": t.CreatedAt, "role": p.Role})
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	keys, err := s.Auth.Store.ListKeys(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []auth.APIKey{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys, "count": len(keys)})
	return nil
}

// CreateKeyRequest is the body of POST /keys.
type CreateKeyRequest struct {
	Role    vargate.Role `json:"role"`
	AgentID string       `json:"agent_id,omitempty"`
	Name    string       `json:"name,omitempty"`
}

// CreateKeyResponse returns the new key's secret, once.
type CreateKeyResponse struct {
	auth.APIKey
	Secret string `json:"api_key"`
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	var req CreateKeyRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	k, secret, err := s.Auth.CreateKey(r.Context(), auth.KeyRequest{TenantID: p.TenantID, Role: req.Role, AgentID: req.AgentID, Name: req.Name})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, CreateKeyResponse{APIKey: k, Secret: secret})
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	id := r.PathValue("id")
	if id == p.KeyID {
		return vargate.Invalid("id", "a key cannot revoke itself; use another admin key")
	}
	if err := s.Auth.RevokeKey(r.Context(), p.TenantID, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	return nil
}
