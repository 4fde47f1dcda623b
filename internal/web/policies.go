package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
)

// Policies manages a tenant's policy versions. PolicyVersions implements
// it over the policy store and engine.
type Policies interface {
	// Versions lists the tenant's versions, newest first, without modules.
	Versions(ctx context.Context, tenantID string) ([]policy.StoredVersion, error)
	Version(ctx context.Context, tenantID, label string) (policy.StoredVersion, error)
	// Active returns the label of the tenant's active version
	// (policy.BaseLabel when none was activated).
	Active(ctx context.Context, tenantID string) (string, error)
	// History lists the latest activations, newest first.
	History(ctx context.Context, tenantID string, limit int) ([]policy.Activation, error)
	// RollbackTarget is the version a rollback would make active, or a
	// KindConflict error when there is nothing to roll back to.
	RollbackTarget(ctx context.Context, tenantID string) (string, error)
	// Upload checks and stores a new version (not activated) and returns
	// it with its test results; a failing test returns the results with
	// the error.
	Upload(ctx context.Context, p vargate.Principal, label string, modules map[string]string) (policy.StoredVersion, []policy.TestResult, error)
	// Activate makes a stored version the active one; changed is false
	// when it already was.
	Activate(ctx context.Context, p vargate.Principal, label string) (a policy.Activation, changed bool, err error)
	// Rollback undoes the latest activation; to must be the target the
	// page showed (else KindConflict: someone changed it meanwhile).
	Rollback(ctx context.Context, p vargate.Principal, to string) (policy.Activation, error)
}

// PolicyStore is what PolicyVersions needs of the store: the versions and
// the activation history (sqlstore.PolicyStore).
type PolicyStore interface {
	policy.Store
	ActivatePolicyVersionBy(ctx context.Context, tenantID, label, by string) (a policy.Activation, changed bool, err error)
	PolicyRollbackTarget(ctx context.Context, tenantID string) (string, error)
	RollbackPolicyVersion(ctx context.Context, tenantID, to, by string) (policy.Activation, error)
	GetPolicyActivation(ctx context.Context, tenantID string) (policy.Activation, error)
	ListPolicyActivations(ctx context.Context, tenantID string, limit int) ([]policy.Activation, error)
}

// PolicyAuditor records policy changes; *audit.Log implements it.
type PolicyAuditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// PolicyVersions uploads, activates and rolls back policy versions with
// the same steps and audit records as the REST API (POST /policies,
// /policies/{version}/activate, /policies/rollback): compile with the
// version's tests before storing; record an activation in the store, then
// swap it into the engine; audit every change as a control_plane record
// (policy.uploaded, policy.activated, policy.rolled_back), and report a
// change whose record could not be written as failed.
type PolicyVersions struct {
	Store  PolicyStore
	Engine *policy.Engine
	Audit  PolicyAuditor

	// mu keeps this dashboard's engine swaps in the order of its store
	// writes.
	mu sync.Mutex
}

// reservedPolicyLabels cannot be uploaded (the API's paths use them).
var reservedPolicyLabels = []string{policy.BaseLabel, "active", "rollback", "replay"}

// policyAuditTimeout bounds the audit write of a policy change.
const policyAuditTimeout = 10 * time.Second

// Versions implements Policies.
func (pv *PolicyVersions) Versions(ctx context.Context, tenantID string) ([]policy.StoredVersion, error) {
	return pv.Store.ListPolicyVersions(ctx, tenantID)
}

// Version implements Policies.
func (pv *PolicyVersions) Version(ctx context.Context, tenantID, label string) (policy.StoredVersion, error) {
	return pv.Store.GetPolicyVersion(ctx, tenantID, label)
}

// Active implements Policies.
func (pv *PolicyVersions) Active(ctx context.Context, tenantID string) (string, error) {
	a, err := pv.Store.GetPolicyActivation(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return policy.BaseLabel, nil
	}
	if err != nil {
		return "", err
	}
	return a.Label, nil
}

// History implements Policies.
func (pv *PolicyVersions) History(ctx context.Context, tenantID string, limit int) ([]policy.Activation, error) {
	return pv.Store.ListPolicyActivations(ctx, tenantID, limit)
}

// RollbackTarget implements Policies.
func (pv *PolicyVersions) RollbackTarget(ctx context.Context, tenantID string) (string, error) {
	return pv.Store.PolicyRollbackTarget(ctx, tenantID)
}

// Upload implements Policies.
func (pv *PolicyVersions) Upload(ctx context.Context, p vargate.Principal, label string, modules map[string]string) (policy.StoredVersion, []policy.TestResult, error) {
	if slices.Contains(reservedPolicyLabels, label) {
		return policy.StoredVersion{}, nil, vargate.Invalid("label", "label %q is reserved", label)
	}
	if pv.Audit == nil {
		return policy.StoredVersion{}, nil, vargate.Errorf(vargate.KindUnavailable, "policy changes need the audit trail, which is not configured")
	}
	_, results, err := policy.CompileTested(ctx, label, modules)
	if err != nil {
		return policy.StoredVersion{}, results, err
	}
	sv, err := pv.Store.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: p.TenantID, Label: label, Modules: modules, CreatedBy: p.KeyID})
	if err != nil {
		return policy.StoredVersion{}, results, err
	}
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
	if err := pv.audit(ctx, p, "policy.uploaded", sv.Label, map[string]any{
		"digest": policy.ModulesDigest(sv.Modules), "modules": files, "tests": len(results), "tests_passed": passed, "activate": false,
	}); err != nil {
		return sv, results, vargate.Wrap(vargate.KindUnavailable, err, "policy version %s was saved, but its audit record could not be written", sv.Label)
	}
	return sv, results, nil
}

// Activate implements Policies.
func (pv *PolicyVersions) Activate(ctx context.Context, p vargate.Principal, label string) (policy.Activation, bool, error) {
	if label == policy.BaseLabel {
		return policy.Activation{}, false, vargate.Invalid("version", "the base policy cannot be activated on its own: roll back, activate an earlier version, or upload one with no modules")
	}
	if pv.Audit == nil {
		return policy.Activation{}, false, vargate.Errorf(vargate.KindUnavailable, "policy changes need the audit trail, which is not configured")
	}
	// Compile first, so that a version that no longer compiles is refused
	// rather than made active.
	v, err := pv.Engine.Version(ctx, p.TenantID, label)
	if err != nil {
		return policy.Activation{}, false, err
	}
	pv.mu.Lock()
	a, changed, err := pv.Store.ActivatePolicyVersionBy(ctx, p.TenantID, v.Label, p.KeyID)
	if err == nil {
		pv.Engine.Activate(p.TenantID, v)
	}
	pv.mu.Unlock()
	if err != nil || !changed {
		return a, changed, err
	}
	if err := pv.audit(ctx, p, "policy.activated", a.Label, activationDetail(a, v)); err != nil {
		return a, changed, vargate.Wrap(vargate.KindUnavailable, err, "policy version %s is active, but the audit record of the activation could not be written", a.Label)
	}
	return a, changed, nil
}

// Rollback implements Policies.
func (pv *PolicyVersions) Rollback(ctx context.Context, p vargate.Principal, to string) (policy.Activation, error) {
	if pv.Audit == nil {
		return policy.Activation{}, vargate.Errorf(vargate.KindUnavailable, "policy changes need the audit trail, which is not configured")
	}
	pv.mu.Lock()
	a, v, err := pv.rollback(ctx, p, to)
	pv.mu.Unlock()
	if err != nil {
		return a, err
	}
	if err := pv.audit(ctx, p, "policy.rolled_back", a.Label, activationDetail(a, v)); err != nil {
		return a, vargate.Wrap(vargate.KindUnavailable, err, "policy version %s is active again, but the audit record of the rollback could not be written", a.Label)
	}
	return a, nil
}

// rollback compiles the version a rollback returns to, records the
// rollback and swaps the version in. The caller holds pv.mu.
func (pv *PolicyVersions) rollback(ctx context.Context, p vargate.Principal, to string) (policy.Activation, *policy.Version, error) {
	target, err := pv.Store.PolicyRollbackTarget(ctx, p.TenantID)
	if err != nil {
		return policy.Activation{}, nil, err
	}
	if to != "" && to != target {
		return policy.Activation{}, nil, vargate.Errorf(vargate.KindConflict, "the policy changed meanwhile: a rollback would now return to %s; reload the page", target)
	}
	v, err := pv.Engine.Version(ctx, p.TenantID, target)
	if err != nil {
		return policy.Activation{}, nil, err
	}
	a, err := pv.Store.RollbackPolicyVersion(ctx, p.TenantID, target, p.KeyID)
	if err != nil {
		return policy.Activation{}, nil, err
	}
	pv.Engine.Activate(p.TenantID, v)
	return a, v, nil
}

func activationDetail(a policy.Activation, v *policy.Version) map[string]any {
	return map[string]any{
		"previous": a.Previous, "activation_seq": a.Seq, "rollback": a.Rollback,
		"digest": policy.ModulesDigest(v.Modules), "activated_at": a.ActivatedAt,
	}
}

// audit writes the change's record; it must be written even if the
// browser goes away.
func (pv *PolicyVersions) audit(ctx context.Context, p vargate.Principal, event, label string, detail map[string]any) error {
	detail["event"] = event
	detail["label"] = label
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	actx, cancel := detached(ctx, policyAuditTimeout)
	defer cancel()
	_, err = pv.Audit.Append(actx, audit.Record{
		TenantID: p.TenantID, Source: audit.SourceControlPlane, Decision: event, PolicyVersion: label, Actor: p.KeyID, Detail: b,
	})
	return err
}

// policiesData is the policies page.
type policiesData struct {
	Active   string
	Versions []policy.StoredVersion
	History  []policy.Activation
	// RollbackTo is the version a rollback would make active ("" when
	// there is nothing to roll back to).
	RollbackTo string
	// Uploaded is the version just uploaded, with its tests.
	Uploaded *uploadResult
	Label    string
	Source   string
	Error    string
}

type uploadResult struct {
	Label   string
	Results []policy.TestResult
	Failed  int
}

func (s *Server) policiesData(r *http.Request, c *reqCtx) (policiesData, error) {
	d := policiesData{}
	var err error
	if d.Active, err = s.Policies.Active(r.Context(), c.P.TenantID); err != nil {
		return d, err
	}
	if d.Versions, err = s.Policies.Versions(r.Context(), c.P.TenantID); err != nil {
		return d, err
	}
	if d.History, err = s.Policies.History(r.Context(), c.P.TenantID, policyHistoryShown); err != nil {
		return d, err
	}
	d.RollbackTo, err = s.Policies.RollbackTarget(r.Context(), c.P.TenantID)
	if vargate.IsKind(err, vargate.KindConflict) || vargate.IsKind(err, vargate.KindNotFound) {
		d.RollbackTo, err = "", nil
	}
	return d, err
}

// policyHistoryShown is how many activations the page lists.
const policyHistoryShown = 10

func (s *Server) policiesPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Policies == nil {
		return notConfigured("Policy management")
	}
	d, err := s.policiesData(r, c)
	if err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "policies", "Policies", "policies", d)
}

// maxPolicyFiles bounds an upload's files (policy.MaxModules applies too).
const maxPolicyFiles = 64

// uploadPolicy takes the modules from uploaded .rego files or, without
// files, from the text area (one module, policy.rego).
func (s *Server) uploadPolicy(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Policies == nil {
		return notConfigured("Policy management")
	}
	if err := r.ParseMultipartForm(s.MaxBodyBytes); err != nil && err != http.ErrNotMultipart {
		return vargate.Invalid("modules", "could not read the upload: %v", err)
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	source := r.PostFormValue("source")
	modules := map[string]string{}
	if r.MultipartForm != nil {
		fhs := r.MultipartForm.File["files"]
		if len(fhs) > maxPolicyFiles {
			return vargate.Invalid("files", "at most %d files", maxPolicyFiles)
		}
		for _, fh := range fhs {
			name := path.Base(strings.ReplaceAll(fh.Filename, "\\", "/"))
			if !strings.HasSuffix(name, ".rego") {
				return vargate.Invalid("files", "%q is not a .rego file", name)
			}
			f, err := fh.Open()
			if err != nil {
				return fmt.Errorf("open upload: %w", err)
			}
			b, err := io.ReadAll(f)
			_ = f.Close() // read-only multipart part
			if err != nil {
				return fmt.Errorf("read upload: %w", err)
			}
			modules[name] = string(b)
		}
	}
	if len(modules) == 0 && strings.TrimSpace(source) != "" {
		modules["policy.rego"] = source
	}
	d, err := s.policiesData(r, c)
	if err != nil {
		return err
	}
	d.Label, d.Source = label, source
	if len(modules) == 0 {
		d.Error = "Paste a module or choose .rego files."
		return s.render(w, r, c, http.StatusUnprocessableEntity, "policies", "Policies", "policies", d)
	}
	sv, results, err := s.Policies.Upload(r.Context(), c.P, label, modules)
	if err != nil {
		if !isUserError(err) {
			return err
		}
		d.Error = userMessage(err)
		if len(results) > 0 {
			d.Uploaded = testSummary("", results)
		}
		return s.render(w, r, c, http.StatusUnprocessableEntity, "policies", "Policies", "policies", d)
	}
	if d, err = s.policiesData(r, c); err != nil {
		return err
	}
	d.Uploaded = testSummary(sv.Label, results)
	return s.render(w, r, c, http.StatusOK, "policies", "Policies", "policies", d)
}

func testSummary(label string, results []policy.TestResult) *uploadResult {
	u := &uploadResult{Label: label, Results: results}
	for _, t := range results {
		if !t.Pass && !t.Skipped {
			u.Failed++
		}
	}
	return u
}

// policyData is one version's page.
type policyData struct {
	policy.StoredVersion
	Active bool
	Files  []policyFile
}

type policyFile struct{ Name, Source string }

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Policies == nil {
		return notConfigured("Policy management")
	}
	sv, err := s.Policies.Version(r.Context(), c.P.TenantID, r.PathValue("label"))
	if err != nil {
		return err
	}
	active, err := s.Policies.Active(r.Context(), c.P.TenantID)
	if err != nil {
		return err
	}
	d := policyData{StoredVersion: sv, Active: active == sv.Label}
	for name, src := range sv.Modules {
		d.Files = append(d.Files, policyFile{name, src})
	}
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Name < d.Files[j].Name })
	return s.render(w, r, c, http.StatusOK, "policy", "Policy "+sv.Label, "policies", d)
}

func (s *Server) activatePolicy(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Policies == nil {
		return notConfigured("Policy management")
	}
	label := r.PathValue("label")
	_, changed, err := s.Policies.Activate(r.Context(), c.P, label)
	switch {
	case err != nil && !isUserError(err):
		return err
	case err != nil:
		s.flashError(c, "Not activated: "+userMessage(err))
	case !changed:
		s.flashOK(c, "Policy "+label+" was already active.")
	default:
		s.flashOK(c, "Policy "+label+" is now active for new decisions.")
	}
	return redirect(w, r, "/ui/policies")
}

func (s *Server) rollbackPolicy(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Policies == nil {
		return notConfigured("Policy management")
	}
	a, err := s.Policies.Rollback(r.Context(), c.P, r.PostFormValue("to"))
	switch {
	case err != nil && !isUserError(err):
		return err
	case err != nil:
		s.flashError(c, "Not rolled back: "+userMessage(err))
	default:
		s.flashOK(c, "Rolled back: "+a.Label+" is active again.")
	}
	return redirect(w, r, "/ui/policies")
}
