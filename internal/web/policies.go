package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
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
	// Active returns the label of the tenant's active version
	// (policy.BaseLabel when none was activated).
	Active(ctx context.Context, tenantID string) (string, error)
	Version(ctx context.Context, tenantID, label string) (policy.StoredVersion, error)
	// Upload checks and stores a new version (not activated) and returns
	// it with its test results.
	Upload(ctx context.Context, p vargate.Principal, label string, modules map[string]string) (policy.StoredVersion, []policy.TestResult, error)
	// Activate makes a version (or policy.BaseLabel) the active one.
	Activate(ctx context.Context, p vargate.Principal, label string) error
}

// PolicyStore is what PolicyVersions needs of the policy store; it is
// policy.Store.
type PolicyStore = policy.Store

// PolicyAuditor records uploads and activations; *audit.Log implements it.
type PolicyAuditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// PolicyVersions uploads and activates policy versions the way
// docs/POLICY.md describes for the API layer: compile (which runs the
// version's tests) before storing, store, then activate in the store and
// swap the engine's version. Every change is audited as a control_plane
// record; an activation whose audit write fails is reported as failed.
type PolicyVersions struct {
	Store  PolicyStore
	Engine *policy.Engine
	Audit  PolicyAuditor
}

// Versions implements Policies.
func (pv *PolicyVersions) Versions(ctx context.Context, tenantID string) ([]policy.StoredVersion, error) {
	return pv.Store.ListPolicyVersions(ctx, tenantID)
}

// Active implements Policies.
func (pv *PolicyVersions) Active(ctx context.Context, tenantID string) (string, error) {
	v, err := pv.Store.GetActivePolicyVersion(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return policy.BaseLabel, nil
	}
	if err != nil {
		return "", err
	}
	return v.Label, nil
}

// Version implements Policies.
func (pv *PolicyVersions) Version(ctx context.Context, tenantID, label string) (policy.StoredVersion, error) {
	return pv.Store.GetPolicyVersion(ctx, tenantID, label)
}

// Upload implements Policies.
func (pv *PolicyVersions) Upload(ctx context.Context, p vargate.Principal, label string, modules map[string]string) (policy.StoredVersion, []policy.TestResult, error) {
	if label == policy.BaseLabel {
		return policy.StoredVersion{}, nil, vargate.Invalid("label", "%q is reserved for the built-in policy", label)
	}
	results, err := policy.Test(ctx, modules)
	if err != nil {
		return policy.StoredVersion{}, nil, err
	}
	if _, err := policy.Compile(ctx, label, modules); err != nil {
		return policy.StoredVersion{}, results, err
	}
	sv, err := pv.Store.CreatePolicyVersion(ctx, policy.StoredVersion{TenantID: p.TenantID, Label: label, Modules: modules, CreatedBy: p.KeyID})
	if err != nil {
		return policy.StoredVersion{}, results, err
	}
	files := make([]string, 0, len(modules))
	for f := range modules {
		files = append(files, f)
	}
	sort.Strings(files)
	err = pv.audit(ctx, p, "policy.uploaded", sv.Label, map[string]any{"label": sv.Label, "modules": files, "tests": len(results)})
	return sv, results, err
}

// Activate implements Policies.
func (pv *PolicyVersions) Activate(ctx context.Context, p vargate.Principal, label string) error {
	if label == policy.BaseLabel {
		return vargate.Invalid("label", "the built-in policy cannot be activated on its own; roll back by activating an earlier version")
	}
	sv, err := pv.Store.GetPolicyVersion(ctx, p.TenantID, label)
	if err != nil {
		return err
	}
	v, err := policy.Compile(ctx, sv.Label, sv.Modules)
	if err != nil {
		return err
	}
	if err := pv.Store.ActivatePolicyVersion(ctx, p.TenantID, sv.Label); err != nil {
		return err
	}
	if pv.Engine != nil {
		pv.Engine.Activate(p.TenantID, v)
	}
	return pv.audit(ctx, p, "policy.activated", label, map[string]any{"label": label})
}

func (pv *PolicyVersions) audit(ctx context.Context, p vargate.Principal, what, label string, detail map[string]any) error {
	if pv.Audit == nil {
		return nil
	}
	detail["event"] = what
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	// The record must be written even if the browser goes away.
	actx, cancel := detached(ctx, 10*time.Second)
	defer cancel()
	_, err = pv.Audit.Append(actx, audit.Record{
		TenantID: p.TenantID, Source: audit.SourceControlPlane, Decision: what, PolicyVersion: label, Actor: p.KeyID, Detail: b,
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", what, err)
	}
	return nil
}

// policiesData is the policies page.
type policiesData struct {
	Active   string
	Versions []policy.StoredVersion
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
	d.Versions, err = s.Policies.Versions(r.Context(), c.P.TenantID)
	return d, err
}

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
	if err := s.Policies.Activate(r.Context(), c.P, label); err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Not activated: "+userMessage(err))
		return redirect(w, r, "/ui/policies")
	}
	s.flashOK(c, "Policy "+label+" is now active for new decisions.")
	return redirect(w, r, "/ui/policies")
}
