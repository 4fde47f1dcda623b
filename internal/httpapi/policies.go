package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/policy"
)

// Policies serves /policies: tenant policy versions kept in Store and the
// Engine that decides with each tenant's active one. It is policy.Admin,
// which the dashboard uses too: an activation is written to the Store
// first and then swapped into the Engine, so it takes effect for the next
// decision of this gateway and survives a restart, and every change is
// audited.
type Policies = policy.Admin

// historyLimit is how many activations GET /policies/active shows.
const historyLimit = 20

// PolicyUploadRequest is the body of POST /policies.
type PolicyUploadRequest struct {
	// Label names the version; empty assigns v<N>.
	Label string `json:"label,omitempty"`
	// Modules are the Rego sources by file name.
	Modules map[string]string `json:"modules"`
	// Activate makes the version active once stored.
	Activate bool `json:"activate,omitempty"`
}

// PolicyVersion is a policy version as the API shows it. Digest and
// Modules are given for one version, not in lists.
type PolicyVersion struct {
	Label string `json:"label"`
	// CreatedAt is null for the base policy, which was never uploaded.
	CreatedAt *time.Time        `json:"created_at"`
	CreatedBy string            `json:"created_by,omitempty"`
	Active    bool              `json:"active"`
	Digest    string            `json:"digest,omitempty"`
	Modules   map[string]string `json:"modules,omitempty"`
}

// PolicyActivation is one change of the tenant's active version.
type PolicyActivation struct {
	Seq   int64  `json:"seq"`
	Label string `json:"label"`
	// Previous is the version active before ("base" for none).
	Previous    string    `json:"previous"`
	Rollback    bool      `json:"rollback"`
	ActivatedAt time.Time `json:"activated_at"`
	ActivatedBy string    `json:"activated_by,omitempty"`
}

// PolicyListResponse answers GET /policies.
type PolicyListResponse struct {
	Versions []PolicyVersion `json:"versions"`
	Count    int             `json:"count"`
	// Active is the active version's label, "base" when none is.
	Active string `json:"active"`
}

// PolicyUploadResponse answers POST /policies.
type PolicyUploadResponse struct {
	Version PolicyVersion       `json:"version"`
	Tests   []policy.TestResult `json:"tests"`
	// Activation is set when the upload asked to activate the version.
	Activation *PolicyActivation `json:"activation,omitempty"`
}

// PolicyActiveResponse answers GET /policies/active.
type PolicyActiveResponse struct {
	// Label is the active version, "base" when the tenant never
	// activated one (Activation is then absent).
	Label      string             `json:"label"`
	Activation *PolicyActivation  `json:"activation,omitempty"`
	History    []PolicyActivation `json:"history"`
}

// PolicyActivateResponse answers POST /policies/{version}/activate and
// POST /policies/rollback.
type PolicyActivateResponse struct {
	Active string `json:"active"`
	// Changed is false when the version was already active.
	Changed    bool             `json:"changed"`
	Activation PolicyActivation `json:"activation"`
}

// PolicyTestFailure is the 422 answer to an upload whose tests failed:
// the error and every test's result.
type PolicyTestFailure struct {
	ErrorBody
	Tests []policy.TestResult `json:"tests"`
}

func (s *Server) policies() (*Policies, error) {
	if s.Policies == nil || s.Policies.Store == nil || s.Policies.Engine == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "policy management is not configured on this gateway")
	}
	return s.Policies, nil
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	active, err := ps.Active(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	vs, err := ps.Store.ListPolicyVersions(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	resp := PolicyListResponse{Versions: make([]PolicyVersion, 0, len(vs)), Count: len(vs), Active: active}
	for _, v := range vs {
		resp.Versions = append(resp.Versions, PolicyVersion{Label: v.Label, CreatedAt: timeOrNil(v.CreatedAt), CreatedBy: v.CreatedBy, Active: v.Label == active})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	v, err := ps.Version(r.Context(), p.TenantID, r.PathValue("version"))
	if err != nil {
		return err
	}
	active, err := ps.Active(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PolicyVersion{
		Label: v.Label, CreatedAt: timeOrNil(v.CreatedAt), CreatedBy: v.CreatedBy, Active: v.Label == active,
		Digest: policy.ModulesDigest(v.Modules), Modules: v.Modules,
	})
	return nil
}

func (s *Server) getActivePolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	resp := PolicyActiveResponse{Label: policy.BaseLabel, History: []PolicyActivation{}}
	a, err := ps.Store.GetPolicyActivation(r.Context(), p.TenantID)
	switch {
	case vargate.IsKind(err, vargate.KindNotFound):
	case err != nil:
		return err
	default:
		resp.Label = a.Label
		resp.Activation = activationDoc(a)
	}
	history, err := ps.Store.ListPolicyActivations(r.Context(), p.TenantID, historyLimit)
	if err != nil {
		return err
	}
	for _, h := range history {
		resp.History = append(resp.History, *activationDoc(h))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) uploadPolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	var req PolicyUploadRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Modules == nil {
		return vargate.Invalid("modules", "is required: an object of file name to Rego source ({} stores a version that adds nothing to the base policy)")
	}
	sv, results, act, err := ps.Upload(r.Context(), p, req.Label, req.Modules, req.Activate)
	if err != nil {
		if sv.Label == "" && results != nil && vargate.IsKind(err, vargate.KindInvalid) {
			s.writeTestFailure(w, r, err, results)
			return nil
		}
		return err
	}
	resp := PolicyUploadResponse{
		Version: PolicyVersion{Label: sv.Label, CreatedAt: timeOrNil(sv.CreatedAt), CreatedBy: sv.CreatedBy, Digest: policy.ModulesDigest(sv.Modules)},
		Tests:   results,
	}
	if act != nil {
		resp.Activation = activationDoc(*act)
		resp.Version.Active = true
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// writeTestFailure answers an upload whose tests failed: 422 with the
// error and every test's result.
func (s *Server) writeTestFailure(w http.ResponseWriter, r *http.Request, err error, results []policy.TestResult) {
	detail := ErrorDetail{Code: string(vargate.KindInvalid), Message: err.Error(), RequestID: vargate.RequestID(r.Context())}
	var ve *vargate.Error
	if errors.As(err, &ve) {
		detail.Message, detail.Field = ve.Message, ve.Field
	}
	writeJSON(w, http.StatusUnprocessableEntity, PolicyTestFailure{ErrorBody{detail}, results})
}

func (s *Server) activatePolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	a, changed, err := ps.Activate(r.Context(), p, r.PathValue("version"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PolicyActivateResponse{Active: a.Label, Changed: changed, Activation: *activationDoc(a)})
	return nil
}

func (s *Server) rollbackPolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	var body struct{}
	if err := decodeJSON(r, &body, true); err != nil {
		return err
	}
	a, err := ps.Rollback(r.Context(), p, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PolicyActivateResponse{Active: a.Label, Changed: true, Activation: *activationDoc(a)})
	return nil
}

func activationDoc(a policy.Activation) *PolicyActivation {
	return &PolicyActivation{Seq: a.Seq, Label: a.Label, Previous: a.Previous, Rollback: a.Rollback, ActivatedAt: a.ActivatedAt, ActivatedBy: a.ActivatedBy}
}

// timeOrNil is t, or nil when t is zero.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
