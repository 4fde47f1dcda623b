package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/policy"
)

// PolicyStore implements policy.Store, and keeps the history of each
// tenant's activations for rollback. Versions and activations are never
// updated or deleted (the schema's triggers refuse it); a per-tenant head
// row, locked by every write, is the active-version pointer.
type PolicyStore struct{ db *DB }

var _ policy.Store = (*PolicyStore)(nil)

// NewPolicyStore returns the policy version store over db.
func NewPolicyStore(db *DB) *PolicyStore { return &PolicyStore{db: db} }

// policyHead is a tenant's row of policy_heads.
type policyHead struct {
	versions    int64
	activations int64
	activeSeq   sql.NullInt64
}

// lockPolicyHead creates the tenant's head row if needed and locks it, so that
// writers of one tenant's versions and activations go one at a time.
func lockPolicyHead(ctx context.Context, tx *Tx, tenantID string) (policyHead, error) {
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO policy_heads (tenant_id) VALUES (?) ON CONFLICT (tenant_id) DO NOTHING`, tenantID); err != nil {
		return policyHead{}, fmt.Errorf("policy head: %w", err)
	}
	var h policyHead
	err := tx.QueryRowContext(ctx,
		`SELECT versions, activations, active_seq FROM policy_heads WHERE tenant_id = ?`+tx.ForUpdate(), tenantID).
		Scan(&h.versions, &h.activations, &h.activeSeq)
	if err != nil {
		return policyHead{}, fmt.Errorf("lock policy head: %w", err)
	}
	return h, nil
}

// CreatePolicyVersion implements policy.Store. An empty label becomes
// v<N>, N the tenant's number of versions plus one, or the next number
// whose label is free; BaseLabel is refused as invalid.
func (s *PolicyStore) CreatePolicyVersion(ctx context.Context, v policy.StoredVersion) (policy.StoredVersion, error) {
	if v.TenantID == "" {
		return policy.StoredVersion{}, vargate.Invalid("tenant_id", "is required")
	}
	if v.Label == policy.BaseLabel {
		return policy.StoredVersion{}, vargate.Invalid("label", "label %q is reserved for the base policy", policy.BaseLabel)
	}
	modules := v.Modules
	if modules == nil {
		modules = map[string]string{}
	}
	src, err := json.Marshal(modules)
	if err != nil {
		return policy.StoredVersion{}, fmt.Errorf("encode policy modules: %w", err)
	}
	v.CreatedAt = FromMicros(Micros(s.db.Now()))
	err = s.db.InTx(ctx, func(tx *Tx) error {
		h, err := lockPolicyHead(ctx, tx, v.TenantID)
		if err != nil {
			return err
		}
		if v.Label == "" {
			for n := h.versions + 1; ; n++ {
				label := fmt.Sprintf("v%d", n)
				used, err := labelUsed(ctx, tx, v.TenantID, label)
				if err != nil {
					return err
				}
				if !used {
					v.Label = label
					break
				}
			}
		} else if used, err := labelUsed(ctx, tx, v.TenantID, v.Label); err != nil {
			return err
		} else if used {
			return vargate.Errorf(vargate.KindConflict, "policy version %s already exists; versions are never replaced, upload under a new label", v.Label)
		}
		seq := h.versions + 1
		if _, err := tx.ExecContext(ctx, `INSERT INTO policy_versions
			(tenant_id, seq, label, modules, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
			v.TenantID, seq, v.Label, string(src), Micros(v.CreatedAt), v.CreatedBy); err != nil {
			return fmt.Errorf("insert policy version: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE policy_heads SET versions = ? WHERE tenant_id = ?`, seq, v.TenantID)
		return err
	})
	if err != nil {
		return policy.StoredVersion{}, err
	}
	v.Modules = maps.Clone(modules)
	return v, nil
}

func labelUsed(ctx context.Context, tx *Tx, tenantID, label string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_versions WHERE tenant_id = ? AND label = ?`, tenantID, label).Scan(&n)
	return n > 0, err
}

// GetPolicyVersion implements policy.Store.
func (s *PolicyStore) GetPolicyVersion(ctx context.Context, tenantID, label string) (policy.StoredVersion, error) {
	v := policy.StoredVersion{TenantID: tenantID, Label: label}
	var src string
	var created int64
	err := s.db.QueryRowContext(ctx,
		`SELECT modules, created_at, created_by FROM policy_versions WHERE tenant_id = ? AND label = ?`, tenantID, label).
		Scan(&src, &created, &v.CreatedBy)
	if err != nil {
		return policy.StoredVersion{}, notFound(err, "policy version "+label)
	}
	if err := json.Unmarshal([]byte(src), &v.Modules); err != nil {
		return policy.StoredVersion{}, fmt.Errorf("decode policy version %s: %w", label, err)
	}
	v.CreatedAt = FromMicros(created)
	return v, nil
}

// ListPolicyVersions implements policy.Store: newest first, without
// modules.
func (s *PolicyStore) ListPolicyVersions(ctx context.Context, tenantID string) ([]policy.StoredVersion, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT label, created_at, created_by FROM policy_versions WHERE tenant_id = ? ORDER BY seq DESC`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	vs := []policy.StoredVersion{}
	for rows.Next() {
		v := policy.StoredVersion{TenantID: tenantID}
		var created int64
		if err := rows.Scan(&v.Label, &created, &v.CreatedBy); err != nil {
			return nil, err
		}
		v.CreatedAt = FromMicros(created)
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// ActivatePolicyVersion implements policy.Store. The activation is
// recorded as made by the principal in ctx, if any; ActivatePolicyVersionBy
// names who explicitly.
func (s *PolicyStore) ActivatePolicyVersion(ctx context.Context, tenantID, label string) error {
	p, _ := vargate.FromContext(ctx)
	_, _, err := s.ActivatePolicyVersionBy(ctx, tenantID, label, p.KeyID)
	return err
}

// ActivatePolicyVersionBy makes label the tenant's active version and
// records the change as made by `by` (a key ID). Activating the version
// that is already active changes nothing: it returns the current
// activation and changed false. A label the tenant does not have is a
// KindNotFound error.
func (s *PolicyStore) ActivatePolicyVersionBy(ctx context.Context, tenantID, label, by string) (a policy.Activation, changed bool, err error) {
	err = s.db.InTx(ctx, func(tx *Tx) error {
		h, err := lockPolicyHead(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if used, err := labelUsed(ctx, tx, tenantID, label); err != nil {
			return err
		} else if !used {
			return vargate.NotFound("policy version " + label)
		}
		prev := policy.BaseLabel
		if h.activeSeq.Valid {
			cur, _, err := activationAt(ctx, tx, tenantID, h.activeSeq.Int64)
			if err != nil {
				return err
			}
			if cur.Label == label {
				a = cur
				return nil
			}
			prev = cur.Label
		}
		a = policy.Activation{TenantID: tenantID, Label: label, Previous: prev, ActivatedBy: by}
		changed = true
		// A rollback of this activation restores the one it replaces.
		return insertActivation(ctx, tx, h, &a, s.db.Now(), h.activeSeq)
	})
	if err != nil {
		return policy.Activation{}, false, err
	}
	return a, changed, nil
}

// PolicyRollbackTarget returns the label that RollbackPolicyVersion would
// activate: the version that was in effect before the current activation.
// It is a KindConflict error when there is none (no version was ever
// activated, or the active one was the first).
func (s *PolicyStore) PolicyRollbackTarget(ctx context.Context, tenantID string) (string, error) {
	var label string
	err := s.db.QueryRowContext(ctx, `SELECT t.label FROM policy_heads h
		JOIN policy_activations c ON c.tenant_id = h.tenant_id AND c.seq = h.active_seq
		JOIN policy_activations t ON t.tenant_id = c.tenant_id AND t.seq = c.rollback_to
		WHERE h.tenant_id = ?`, tenantID).Scan(&label)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNothingToRollBack
	}
	return label, err
}

var errNothingToRollBack = vargate.Errorf(vargate.KindConflict,
	"there is no earlier activation to roll back to; activate a version by label instead")

// RollbackPolicyVersion undoes the tenant's current activation: the
// version that was active before it becomes active again, recorded as a
// rollback made by `by`. Rolling back again keeps walking back through
// earlier activations. When to is not empty it must be the version the
// rollback would activate (as PolicyRollbackTarget said), or the call is a
// KindConflict error and nothing changes; so a caller can prepare the
// version before committing to it. With nothing to roll back to, it is a
// KindConflict error.
func (s *PolicyStore) RollbackPolicyVersion(ctx context.Context, tenantID, to, by string) (policy.Activation, error) {
	var a policy.Activation
	err := s.db.InTx(ctx, func(tx *Tx) error {
		h, err := lockPolicyHead(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if !h.activeSeq.Valid {
			return errNothingToRollBack
		}
		cur, curBack, err := activationAt(ctx, tx, tenantID, h.activeSeq.Int64)
		if err != nil {
			return err
		}
		if !curBack.Valid {
			return errNothingToRollBack
		}
		target, targetBack, err := activationAt(ctx, tx, tenantID, curBack.Int64)
		if err != nil {
			return err
		}
		if to != "" && target.Label != to {
			return vargate.Errorf(vargate.KindConflict,
				"the active policy changed meanwhile: a rollback now returns to %s, not %s; retry", target.Label, to)
		}
		a = policy.Activation{TenantID: tenantID, Label: target.Label, Previous: cur.Label, Rollback: true, ActivatedBy: by}
		// Rolling back this rollback continues from where the target's own
		// activation would have returned.
		return insertActivation(ctx, tx, h, &a, s.db.Now(), targetBack)
	})
	if err != nil {
		return policy.Activation{}, err
	}
	return a, nil
}

// insertActivation appends a as the tenant's next activation, makes it
// the active one, and fills in its Seq and ActivatedAt.
func insertActivation(ctx context.Context, tx *Tx, h policyHead, a *policy.Activation, now time.Time, rollbackTo sql.NullInt64) error {
	a.Seq = h.activations + 1
	a.ActivatedAt = FromMicros(now.UnixMicro())
	previous := a.Previous
	if previous == policy.BaseLabel {
		previous = ""
	}
	rollback := 0
	if a.Rollback {
		rollback = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO policy_activations
		(tenant_id, seq, label, previous_label, rollback, rollback_to, activated_at, activated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.TenantID, a.Seq, a.Label, previous, rollback, rollbackTo, Micros(a.ActivatedAt), a.ActivatedBy); err != nil {
		return fmt.Errorf("insert policy activation: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE policy_heads SET activations = ?, active_seq = ? WHERE tenant_id = ?`,
		a.Seq, a.Seq, a.TenantID)
	return err
}

const activationColumns = `tenant_id, seq, label, previous_label, rollback, rollback_to, activated_at, activated_by`

func scanActivation(sc interface{ Scan(...any) error }) (policy.Activation, sql.NullInt64, error) {
	var a policy.Activation
	var rollback int
	var back sql.NullInt64
	var at int64
	if err := sc.Scan(&a.TenantID, &a.Seq, &a.Label, &a.Previous, &rollback, &back, &at, &a.ActivatedBy); err != nil {
		return policy.Activation{}, back, err
	}
	if a.Previous == "" {
		a.Previous = policy.BaseLabel
	}
	a.Rollback = rollback != 0
	a.ActivatedAt = FromMicros(at)
	return a, back, nil
}

// activationAt reads one activation and where a rollback of it returns to.
func activationAt(ctx context.Context, tx *Tx, tenantID string, seq int64) (policy.Activation, sql.NullInt64, error) {
	a, back, err := scanActivation(tx.QueryRowContext(ctx,
		`SELECT `+activationColumns+` FROM policy_activations WHERE tenant_id = ? AND seq = ?`, tenantID, seq))
	if err != nil {
		return policy.Activation{}, back, fmt.Errorf("policy activation %d: %w", seq, err)
	}
	return a, back, nil
}

// GetActivePolicyVersion implements policy.Store.
func (s *PolicyStore) GetActivePolicyVersion(ctx context.Context, tenantID string) (policy.StoredVersion, error) {
	a, err := s.GetPolicyActivation(ctx, tenantID)
	if err != nil {
		return policy.StoredVersion{}, err
	}
	return s.GetPolicyVersion(ctx, tenantID, a.Label)
}

// ActivePolicyLabels implements policy.Store.
func (s *PolicyStore) ActivePolicyLabels(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT h.tenant_id, a.label
		FROM policy_heads h JOIN policy_activations a ON a.tenant_id = h.tenant_id AND a.seq = h.active_seq`)
	if err != nil {
		return nil, fmt.Errorf("read active policy labels: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var tenant, label string
		if err := rows.Scan(&tenant, &label); err != nil {
			return nil, err
		}
		out[tenant] = label
	}
	return out, rows.Err()
}

// GetPolicyActivation returns the activation in effect for the tenant,
// or a KindNotFound error when it never activated a version (the base
// policy applies).
func (s *PolicyStore) GetPolicyActivation(ctx context.Context, tenantID string) (policy.Activation, error) {
	a, _, err := scanActivation(s.db.QueryRowContext(ctx, `SELECT a.tenant_id, a.seq, a.label, a.previous_label, a.rollback, a.rollback_to, a.activated_at, a.activated_by
		FROM policy_heads h JOIN policy_activations a ON a.tenant_id = h.tenant_id AND a.seq = h.active_seq
		WHERE h.tenant_id = ?`, tenantID))
	if err != nil {
		return policy.Activation{}, notFound(err, "active policy version")
	}
	return a, nil
}

// ListPolicyActivations returns the tenant's activations, newest first,
// at most limit (all when limit is not positive).
func (s *PolicyStore) ListPolicyActivations(ctx context.Context, tenantID string, limit int) ([]policy.Activation, error) {
	q := `SELECT ` + activationColumns + ` FROM policy_activations WHERE tenant_id = ? ORDER BY seq DESC`
	args := []any{tenantID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	as := []policy.Activation{}
	for rows.Next() {
		a, _, err := scanActivation(rows)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}
