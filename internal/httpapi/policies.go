package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
)

// PolicyStore is what /policies needs of the store: policy.Store plus the
// activation history that records who activated what and makes rollback
// possible (sqlstore.PolicyStore).
type PolicyStore interface {
	policy.Store
	// ActivatePolicyVersionBy activates label; changed is false when it
	// was already active.
	ActivatePolicyVersionBy(ctx context.Context, tenantID, label, by string) (a policy.Activation, changed bool, err error)
	// PolicyRollbackTarget is the label a rollback would activate, or a
	// KindConflict error when there is nothing to roll back to.
	PolicyRollbackTarget(ctx context.Context, tenantID string) (string, error)
	// RollbackPolicyVersion undoes the current activation; to, when set,
	// must be the label PolicyRollbackTarget returned (else KindConflict).
	RollbackPolicyVersion(ctx context.Context, tenantID, to, by string) (policy.Activation, error)
	// GetPolicyActivation returns the activation in effect, or KindNotFound
	// when the base policy applies.
	GetPolicyActivation(ctx context.Context, tenantID string) (policy.Activation, error)
	// ListPolicyActivations lists activations newest first, at most limit.
	ListPolicyActivations(ctx context.Context, tenantID string, limit int) ([]policy.Activation, error)
}

// Policies serves /policies: tenant policy versions kept in Store and the
// Engine that decides with each tenant's active one. An activation is
// written to the Store first and then swapped into the Engine, so it takes
// effect for the next decision of this gateway and survives a restart.
type Policies struct {
	Store  PolicyStore
	Engine *policy.Engine

	// mu keeps this gateway's engine swaps in the order of the store's
	// activations.
	mu sync.Mutex
}

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
	Label     string            `json:"label"`
	CreatedAt time.Time         `json:"created_at"`
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

// reservedPolicyLabels cannot be uploaded: GET /policies/{version} could
// not reach them.
var reservedPolicyLabels = []string{"active", "rollback", "replay"}

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
	active, err := ps.activeLabel(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	vs, err := ps.Store.ListPolicyVersions(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	resp := PolicyListResponse{Versions: make([]PolicyVersion, 0, len(vs)), Count: len(vs), Active: active}
	for _, v := range vs {
		resp.Versions = append(resp.Versions, PolicyVersion{Label: v.Label, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, Active: v.Label == active})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	v, err := ps.Store.GetPolicyVersion(r.Context(), p.TenantID, r.PathValue("version"))
	if err != nil {
		return err
	}
	active, err := ps.activeLabel(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PolicyVersion{
		Label: v.Label, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, Active: v.Label == active,
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
	if _, err := s.audit(); err != nil {
		return err // no change without its audit record
	}
	var req PolicyUploadRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Modules == nil {
		return vargate.Invalid("modules", "is required: an object of file name to Rego source ({} stores a version that adds nothing to the base policy)")
	}
	if req.Label == policy.BaseLabel || slices.Contains(reservedPolicyLabels, req.Label) {
		return vargate.Invalid("label", "label %q is reserved", req.Label)
	}
	ctx := r.Context()
	v, results, err := policy.CompileTested(ctx, req.Label, req.Modules)
	if err != nil {
		if results != nil && vargate.IsKind(err, vargate.KindInvalid) {
			s.writeTestFailure(w, r, err, results)
			return nil
		}
		return err
	}
	sv, err := ps.Store.CreatePolicyVersion(ctx, policy.StoredVersion{
		TenantID: p.TenantID, Label: req.Label, Modules: req.Modules, CreatedBy: p.KeyID,
	})
	if err != nil {
		return err
	}
	v.Label = sv.Label
	digest := policy.ModulesDigest(sv.Modules)
	files := make(map[string]string, len(sv.Modules))
	for name, src := range sv.Modules {
		files[name] = policy.ModuleDigest(src)
	}
	passed := 0
	for _, t := range results {
		if t.Pass {
			passed++
		}
	}
	if err := s.auditPolicy(ctx, p, "policy.uploaded", sv.Label, map[string]any{
		"digest": digest, "modules": files, "tests": len(results), "tests_passed": passed, "activate": req.Activate,
	}); err != nil {
		return vargate.Wrap(vargate.KindUnavailable, err,
			"policy version %s was saved, but its audit record could not be written; it was not activated", sv.Label)
	}
	resp := PolicyUploadResponse{
		Version: PolicyVersion{Label: sv.Label, CreatedAt: sv.CreatedAt, CreatedBy: sv.CreatedBy, Digest: digest},
		Tests:   results,
	}
	if req.Activate {
		a, _, err := s.activatePolicyVersion(ctx, ps, p, v)
		if err != nil {
			return fmt.Errorf("policy version %s was saved but not activated: %w", sv.Label, err)
		}
		resp.Activation = activationDoc(a)
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
	if _, err := s.audit(); err != nil {
		return err
	}
	label := r.PathValue("version")
	if label == policy.BaseLabel {
		return vargate.Invalid("version", "the base policy cannot be activated on its own: roll back, activate an earlier version, or upload one with no modules")
	}
	// Compile before recording the activation, so that a version that no
	// longer compiles is refused rather than made active.
	v, err := ps.Engine.Version(r.Context(), p.TenantID, label)
	if err != nil {
		return err
	}
	a, changed, err := s.activatePolicyVersion(r.Context(), ps, p, v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PolicyActivateResponse{Active: a.Label, Changed: changed, Activation: *activationDoc(a)})
	return nil
}

// activatePolicyVersion records v as the tenant's active version, swaps
// it into the engine and audits the change.
func (s *Server) activatePolicyVersion(ctx context.Context, ps *Policies, p vargate.Principal, v *policy.Version) (policy.Activation, bool, error) {
	ps.mu.Lock()
	a, changed, err := ps.Store.ActivatePolicyVersionBy(ctx, p.TenantID, v.Label, p.KeyID)
	if err == nil {
		ps.Engine.Activate(p.TenantID, v)
	}
	ps.mu.Unlock()
	if err != nil || !changed {
		return a, changed, err
	}
	if err := s.auditPolicy(ctx, p, "policy.activated", a.Label, activationDetail(a, v)); err != nil {
		return a, changed, vargate.Wrap(vargate.KindUnavailable, err,
			"policy version %s is active, but the audit record of the activation could not be written", a.Label)
	}
	return a, changed, nil
}

func (s *Server) rollbackPolicy(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	ps, err := s.policies()
	if err != nil {
		return err
	}
	if _, err := s.audit(); err != nil {
		return err
	}
	var body struct{}
	if err := decodeJSON(r, &body, true); err != nil {
		return err
	}
	ctx := r.Context()
	ps.mu.Lock()
	a, v, err := ps.rollback(ctx, p)
	ps.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.auditPolicy(ctx, p, "policy.rolled_back", a.Label, activationDetail(a, v)); err != nil {
		return vargate.Wrap(vargate.KindUnavailable, err,
			"policy version %s is active again, but the audit record of the rollback could not be written", a.Label)
	}
	writeJSON(w, http.StatusOK, PolicyActivateResponse{Active: a.Label, Changed: true, Activation: *activationDoc(a)})
	return nil
}

// rollback compiles the version a rollback returns to, then records the
// rollback and swaps the version in. The caller holds ps.mu.
func (ps *Policies) rollback(ctx context.Context, p vargate.Principal) (policy.Activation, *policy.Version, error) {
	target, err := ps.Store.PolicyRollbackTarget(ctx, p.TenantID)
	if err != nil {
		return policy.Activation{}, nil, err
	}
	v, err := ps.Engine.Version(ctx, p.TenantID, target)
	if err != nil {
		return policy.Activation{}, nil, err
	}
	a, err := ps.Store.RollbackPolicyVersion(ctx, p.TenantID, target, p.KeyID)
	if err != nil {
		return policy.Activation{}, nil, err
	}
	ps.Engine.Activate(p.TenantID, v)
	return a, v, nil
}

// activeLabel returns the tenant's active version, "base" when none.
func (ps *Policies) activeLabel(ctx context.Context, tenantID string) (string, error) {
	a, err := ps.Store.GetPolicyActivation(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return policy.BaseLabel, nil
	}
	if err != nil {
		return "", err
	}
	return a.Label, nil
}

func activationDoc(a policy.Activation) *PolicyActivation {
	return &PolicyActivation{Seq: a.Seq, Label: a.Label, Previous: a.Previous, Rollback: a.Rollback, ActivatedAt: a.ActivatedAt, ActivatedBy: a.ActivatedBy}
}

func activationDetail(a policy.Activation, v *policy.Version) map[string]any {
	return map[string]any{
		"previous": a.Previous, "activation_seq": a.Seq, "rollback": a.Rollback,
		"digest": policy.ModulesDigest(v.Modules), "activated_at": a.ActivatedAt,
	}
}

// policyAuditTimeout bounds the audit write of a policy change.
const policyAuditTimeout = 10 * time.Second

// auditPolicy appends a control_plane record of a policy change. The
// record is written even if the client goes away: the change it records
// has already been made.
func (s *Server) auditPolicy(ctx context.Context, p vargate.Principal, event, label string, detail map[string]any) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	detail["event"] = event
	detail["label"] = label
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), policyAuditTimeout)
	defer cancel()
	_, err = l.Append(actx, audit.Record{
		TenantID: p.TenantID, Source: audit.SourceControlPlane, Decision: event,
		PolicyVersion: label, Actor: p.KeyID, Detail: b,
	})
	return err
}
