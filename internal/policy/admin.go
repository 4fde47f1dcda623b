package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// AdminStore is what policy changes need of the store: the versions, and
// the activation history that records who activated what and makes
// rollback possible (sqlstore.PolicyStore).
type AdminStore interface {
	Store
	// ActivatePolicyVersionBy activates label; changed is false when it
	// was already active.
	ActivatePolicyVersionBy(ctx context.Context, tenantID, label, by string) (a Activation, changed bool, err error)
	// PolicyRollbackTarget is the label a rollback would activate, or a
	// KindConflict error when there is nothing to roll back to.
	PolicyRollbackTarget(ctx context.Context, tenantID string) (string, error)
	// RollbackPolicyVersion undoes the current activation; to, when set,
	// must be the label PolicyRollbackTarget returned (else KindConflict).
	RollbackPolicyVersion(ctx context.Context, tenantID, to, by string) (Activation, error)
	// GetPolicyActivation returns the activation in effect, or KindNotFound
	// when the base policy applies.
	GetPolicyActivation(ctx context.Context, tenantID string) (Activation, error)
	// ListPolicyActivations lists activations newest first, at most limit.
	ListPolicyActivations(ctx context.Context, tenantID string, limit int) ([]Activation, error)
}

// Auditor records policy changes; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// ReservedLabels cannot be uploaded: the API's paths under /policies use
// them, and "base" names the base policy.
var ReservedLabels = []string{BaseLabel, "active", "rollback", "replay"}

// auditTimeout bounds the audit write of a policy change.
const auditTimeout = 10 * time.Second

// Admin uploads, activates and rolls back tenant policy versions, for the
// REST API and the dashboard alike: compile with the version's tests
// before storing; record an activation in the store, then swap it into the
// engine (so it survives a restart and other gateways follow it, see
// Engine.Refresh); audit every change as a control_plane record
// (policy.uploaded, policy.activated, policy.rolled_back) and report a
// change whose record could not be written as failed.
type Admin struct {
	Store  AdminStore
	Engine *Engine
	Audit  Auditor

	// mu keeps this gateway's engine swaps in the order of its store
	// writes.
	mu sync.Mutex
}

// Versions lists the tenant's versions, newest first, without modules.
func (a *Admin) Versions(ctx context.Context, tenantID string) ([]StoredVersion, error) {
	return a.Store.ListPolicyVersions(ctx, tenantID)
}

// Version returns one of the tenant's versions.
func (a *Admin) Version(ctx context.Context, tenantID, label string) (StoredVersion, error) {
	return a.Store.GetPolicyVersion(ctx, tenantID, label)
}

// Active returns the tenant's active label, BaseLabel when none.
func (a *Admin) Active(ctx context.Context, tenantID string) (string, error) {
	act, err := a.Store.GetPolicyActivation(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return BaseLabel, nil
	}
	if err != nil {
		return "", err
	}
	return act.Label, nil
}

// History lists the tenant's activations, newest first, at most limit.
func (a *Admin) History(ctx context.Context, tenantID string, limit int) ([]Activation, error) {
	return a.Store.ListPolicyActivations(ctx, tenantID, limit)
}

// RollbackTarget is the label a rollback would make active.
func (a *Admin) RollbackTarget(ctx context.Context, tenantID string) (string, error) {
	return a.Store.PolicyRollbackTarget(ctx, tenantID)
}

// Upload compiles modules with their tests and stores them as a new
// version of p's tenant (label empty: v<N>), then, when activate is set,
// makes it active. A version that does not compile or whose tests fail is
// a KindInvalid error, returned with the tests' results when they ran.
func (a *Admin) Upload(ctx context.Context, p vargate.Principal, label string, modules map[string]string, activate bool) (StoredVersion, []TestResult, *Activation, error) {
	if slices.Contains(ReservedLabels, label) {
		return StoredVersion{}, nil, nil, vargate.Invalid("label", "label %q is reserved", label)
	}
	if err := a.ready(); err != nil {
		return StoredVersion{}, nil, nil, err
	}
	v, results, err := CompileTested(ctx, label, modules)
	if err != nil {
		return StoredVersion{}, results, nil, err
	}
	sv, err := a.Store.CreatePolicyVersion(ctx, StoredVersion{TenantID: p.TenantID, Label: label, Modules: modules, CreatedBy: p.KeyID})
	if err != nil {
		return StoredVersion{}, results, nil, err
	}
	v.Label = sv.Label
	files := make(map[string]string, len(sv.Modules))
	for name, src := range sv.Modules {
		files[name] = ModuleDigest(src)
	}
	passed := 0
	for _, t := range results {
		if t.Pass {
			passed++
		}
	}
	if err := a.audit(ctx, p, "policy.uploaded", sv.Label, map[string]any{
		"digest": ModulesDigest(sv.Modules), "modules": files, "tests": len(results), "tests_passed": passed, "activate": activate,
	}); err != nil {
		return sv, results, nil, vargate.Wrap(vargate.KindUnavailable, err,
			"policy version %s was saved, but its audit record could not be written; it was not activated", sv.Label)
	}
	if !activate {
		return sv, results, nil, nil
	}
	act, _, err := a.activate(ctx, p, v)
	if err != nil {
		return sv, results, nil, fmt.Errorf("policy version %s was saved but not activated: %w", sv.Label, err)
	}
	return sv, results, &act, nil
}

// Activate makes a stored version p's tenant's active one; changed is
// false when it already was. The version is compiled first, so that one
// that no longer compiles is refused rather than made active.
func (a *Admin) Activate(ctx context.Context, p vargate.Principal, label string) (Activation, bool, error) {
	if label == BaseLabel {
		return Activation{}, false, vargate.Invalid("version", "the base policy cannot be activated on its own: roll back, activate an earlier version, or upload one with no modules")
	}
	if err := a.ready(); err != nil {
		return Activation{}, false, err
	}
	v, err := a.Engine.Version(ctx, p.TenantID, label)
	if err != nil {
		return Activation{}, false, err
	}
	return a.activate(ctx, p, v)
}

// activate records v as the tenant's active version, swaps it into the
// engine and audits the change.
func (a *Admin) activate(ctx context.Context, p vargate.Principal, v *Version) (Activation, bool, error) {
	a.mu.Lock()
	act, changed, err := a.Store.ActivatePolicyVersionBy(ctx, p.TenantID, v.Label, p.KeyID)
	if err == nil {
		a.Engine.Activate(p.TenantID, v)
	}
	a.mu.Unlock()
	if err != nil || !changed {
		return act, changed, err
	}
	if err := a.audit(ctx, p, "policy.activated", act.Label, activationDetail(act, v)); err != nil {
		return act, changed, vargate.Wrap(vargate.KindUnavailable, err,
			"policy version %s is active, but the audit record of the activation could not be written", act.Label)
	}
	return act, changed, nil
}

// Rollback undoes the tenant's current activation: the version active
// before it is active again. When to is not empty it must be the version
// the rollback returns to (RollbackTarget), or nothing changes and the
// error is KindConflict: someone changed the policy meanwhile.
func (a *Admin) Rollback(ctx context.Context, p vargate.Principal, to string) (Activation, error) {
	if err := a.ready(); err != nil {
		return Activation{}, err
	}
	a.mu.Lock()
	act, v, err := a.rollback(ctx, p, to)
	a.mu.Unlock()
	if err != nil {
		return act, err
	}
	if err := a.audit(ctx, p, "policy.rolled_back", act.Label, activationDetail(act, v)); err != nil {
		return act, vargate.Wrap(vargate.KindUnavailable, err,
			"policy version %s is active again, but the audit record of the rollback could not be written", act.Label)
	}
	return act, nil
}

// rollback compiles the version a rollback returns to, records the
// rollback and swaps the version in. The caller holds a.mu.
func (a *Admin) rollback(ctx context.Context, p vargate.Principal, to string) (Activation, *Version, error) {
	target, err := a.Store.PolicyRollbackTarget(ctx, p.TenantID)
	if err != nil {
		return Activation{}, nil, err
	}
	if to != "" && to != target {
		return Activation{}, nil, vargate.Errorf(vargate.KindConflict, "the policy changed meanwhile: a rollback would now return to %s", target)
	}
	v, err := a.Engine.Version(ctx, p.TenantID, target)
	if err != nil {
		return Activation{}, nil, err
	}
	act, err := a.Store.RollbackPolicyVersion(ctx, p.TenantID, target, p.KeyID)
	if err != nil {
		return Activation{}, nil, err
	}
	a.Engine.Activate(p.TenantID, v)
	return act, v, nil
}

// ready refuses changes that could not be audited.
func (a *Admin) ready() error {
	if a.Store == nil || a.Engine == nil {
		return vargate.Errorf(vargate.KindUnavailable, "policy management is not configured on this gateway")
	}
	if a.Audit == nil {
		return vargate.Errorf(vargate.KindUnavailable, "policy changes need the audit trail, which is not configured")
	}
	return nil
}

func activationDetail(act Activation, v *Version) map[string]any {
	return map[string]any{
		"previous": act.Previous, "activation_seq": act.Seq, "rollback": act.Rollback,
		"digest": ModulesDigest(v.Modules), "activated_at": act.ActivatedAt,
	}
}

// audit appends the control_plane record of a change. It is written even
// if the caller goes away: the change it records has been made.
func (a *Admin) audit(ctx context.Context, p vargate.Principal, event, label string, detail map[string]any) error {
	detail["event"] = event
	detail["label"] = label
	audit.AddActorName(ctx, p.KeyID, detail)
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	_, err = a.Audit.Append(actx, audit.Record{
		TenantID: p.TenantID, Source: audit.SourceControlPlane, Decision: event, PolicyVersion: label, Actor: p.KeyID, Detail: b,
	})
	return err
}
