package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/vault"
)

// RegisterCredentialRequest is the body of POST /credentials/register, as
// the setup guide shows it. Value is a string; for the structured types
// (basic_auth, smtp, header) it may also be given as a JSON object.
type RegisterCredentialRequest struct {
	ToolID         string          `json:"tool_id"`
	CredentialType string          `json:"credential_type"`
	Value          json.RawMessage `json:"value"`
	Name           string          `json:"name,omitempty"`
}

// CredentialResponse is a credential's metadata. It has no value field:
// no endpoint returns a credential value.
type CredentialResponse struct {
	ID             string     `json:"id"`
	ToolID         string     `json:"tool_id"`
	Name           string     `json:"name"`
	CredentialType string     `json:"credential_type"`
	Version        int        `json:"version"`
	State          string     `json:"state"`
	Fingerprint    string     `json:"fingerprint"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	DestroyedAt    *time.Time `json:"destroyed_at,omitempty"`
}

func credentialResponse(m vault.Metadata) CredentialResponse {
	return CredentialResponse{
		ID: m.ID, ToolID: m.ToolID, Name: m.Name, CredentialType: string(m.Type), Version: m.Version,
		State: string(m.State), Fingerprint: m.Fingerprint, CreatedAt: m.CreatedAt,
		LastUsedAt: m.LastUsedAt, DestroyedAt: m.DestroyedAt,
	}
}

func (s *Server) vault() (*vault.Vault, error) {
	if s.Vault == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "the credential vault is not configured")
	}
	return s.Vault, nil
}

// credentialValue turns the request's value into bytes: a JSON string's
// content, or a JSON object's compact text. Errors never quote it.
func credentialValue(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil // the vault reports "value: required"
	}
	switch raw[0] {
	case '"':
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return nil, vargate.Invalid("value", "malformed string")
		}
		return []byte(str), nil
	case '{':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, vargate.Invalid("value", "malformed JSON object")
		}
		return buf.Bytes(), nil
	}
	return nil, vargate.Invalid("value", "must be a string (or, for basic_auth, smtp and header, a JSON object)")
}

func (s *Server) registerCredential(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	v, err := s.vault()
	if err != nil {
		return err
	}
	var req RegisterCredentialRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	value, err := credentialValue(req.Value)
	if err != nil {
		return err
	}
	defer clear(value)
	m, err := v.Register(r.Context(), p.TenantID, vault.Registration{
		ToolID: req.ToolID, Name: req.Name, Type: vault.Type(req.CredentialType), Value: value,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, credentialResponse(m))
	return nil
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	v, err := s.vault()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := vault.Filter{ToolID: q.Get("tool_id")}
	switch q.Get("all") {
	case "", "false":
	case "true":
		f.All = true
	default:
		return vargate.Invalid("all", "must be true or false")
	}
	ms, err := v.List(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	out := make([]CredentialResponse, len(ms))
	for i, m := range ms {
		out[i] = credentialResponse(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out, "count": len(out)})
	return nil
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	v, err := s.vault()
	if err != nil {
		return err
	}
	m, err := v.Get(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialResponse(m))
	return nil
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	v, err := s.vault()
	if err != nil {
		return err
	}
	m, err := v.Delete(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, credentialResponse(m))
	return nil
}
