package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/vargate/vargate"
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
	// Upload checks and stores a new version, activated when activate is
	// set, and returns it with its test results; a failing test returns
	// the results with the error.
	Upload(ctx context.Context, p vargate.Principal, label string, modules map[string]string, activate bool) (policy.StoredVersion, []policy.TestResult, *policy.Activation, error)
	// Activate makes a stored version the active one; changed is false
	// when it already was.
	Activate(ctx context.Context, p vargate.Principal, label string) (a policy.Activation, changed bool, err error)
	// Rollback undoes the latest activation; to must be the target the
	// page showed (else KindConflict: someone changed it meanwhile).
	Rollback(ctx context.Context, p vargate.Principal, to string) (policy.Activation, error)
}

// PolicyVersions implements Policies with the same steps and audit
// records as the REST API: it is policy.Admin, which both use.
type PolicyVersions = policy.Admin

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
	sv, results, _, err := s.Policies.Upload(r.Context(), c.P, label, modules, false)
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
