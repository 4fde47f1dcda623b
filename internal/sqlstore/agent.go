package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
)

// AgentStore implements agent.Store.
type AgentStore struct{ db *DB }

var _ agent.Store = (*AgentStore)(nil)

// NewAgentStore returns the agent configuration store over db.
func NewAgentStore(db *DB) *AgentStore { return &AgentStore{db: db} }

// Create inserts the head row and version 1.
func (s *AgentStore) Create(ctx context.Context, c agent.Config) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO agents (id, tenant_id, version, name, parent_agent_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.TenantID, c.Version, c.Name, nullString(c.ParentAgentID), Micros(c.CreatedAt), Micros(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert agent: %w", err)
		}
		return insertAgentVersion(ctx, tx, c)
	})
}

func insertAgentVersion(ctx context.Context, tx *Tx, c agent.Config) error {
	lists := make([]string, 4)
	for i, l := range [][]string{c.AllowedTools, c.RequireHumanApproval, c.GovernanceProfile.AllowedDomains, c.GovernedBuiltinTools} {
		b, err := json.Marshal(nonNilStrings(l))
		if err != nil {
			return err
		}
		lists[i] = string(b)
	}
	pii := 0
	if c.GovernanceProfile.PIIDetection {
		pii = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO agent_versions (agent_id, version, tenant_id, name, anthropic_model,
		system_prompt, allowed_tools, require_human_approval, max_session_hours, max_daily_sessions,
		max_delegation_depth, risk_level, pii_detection, network, allowed_domains, parent_agent_id,
		governed_builtin_tools, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Version, c.TenantID, c.Name, c.AnthropicModel, c.SystemPrompt, lists[0], lists[1],
		c.MaxSessionHours, c.MaxDailySessions, c.MaxDelegationDepth, c.GovernanceProfile.RiskLevel, pii,
		c.GovernanceProfile.Network, lists[2], nullString(c.ParentAgentID), lists[3], Micros(c.UpdatedAt), c.CreatedBy)
	if err != nil {
		return fmt.Errorf("insert agent version: %w", err)
	}
	return nil
}

const agentColumns = `v.agent_id, v.version, v.tenant_id, v.name, v.anthropic_model, v.system_prompt,
	v.allowed_tools, v.require_human_approval, v.max_session_hours, v.max_daily_sessions,
	v.max_delegation_depth, v.risk_level, v.pii_detection, v.network, v.allowed_domains,
	v.parent_agent_id, v.governed_builtin_tools, v.created_at, v.created_by, a.created_at, a.archived_at`

func scanAgent(sc interface{ Scan(...any) error }) (agent.Config, error) {
	var c agent.Config
	var lists [4]string
	var pii int
	var parent sql.NullString
	var updated, created int64
	var archived sql.NullInt64
	err := sc.Scan(&c.ID, &c.Version, &c.TenantID, &c.Name, &c.AnthropicModel, &c.SystemPrompt,
		&lists[0], &lists[1], &c.MaxSessionHours, &c.MaxDailySessions, &c.MaxDelegationDepth,
		&c.GovernanceProfile.RiskLevel, &pii, &c.GovernanceProfile.Network, &lists[2], &parent, &lists[3],
		&updated, &c.CreatedBy, &created, &archived)
	if err != nil {
		return agent.Config{}, err
	}
	for i, dst := range []*[]string{&c.AllowedTools, &c.RequireHumanApproval, &c.GovernanceProfile.AllowedDomains, &c.GovernedBuiltinTools} {
		if err := json.Unmarshal([]byte(lists[i]), dst); err != nil {
			return agent.Config{}, fmt.Errorf("agent %s: stored list: %w", c.ID, err)
		}
		*dst = nonNilStrings(*dst)
	}
	c.GovernanceProfile.PIIDetection = pii != 0
	c.ParentAgentID = parent.String
	c.UpdatedAt = FromMicros(updated)
	c.CreatedAt = FromMicros(created)
	c.ArchivedAt = NullMicros(archived)
	return c, nil
}

// Get returns the current version.
func (s *AgentStore) Get(ctx context.Context, tenantID, id string) (agent.Config, error) {
	c, err := scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents a
		JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.version
		WHERE a.id = ? AND a.tenant_id = ?`, id, tenantID))
	if err != nil {
		return agent.Config{}, notFound(err, "agent "+id)
	}
	return c, nil
}

// GetVersion returns one version.
func (s *AgentStore) GetVersion(ctx context.Context, tenantID, id string, version int) (agent.Config, error) {
	c, err := scanAgent(s.db.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents a
		JOIN agent_versions v ON v.agent_id = a.id
		WHERE a.id = ? AND a.tenant_id = ? AND v.version = ?`, id, tenantID, version))
	if err != nil {
		return agent.Config{}, notFound(err, fmt.Sprintf("agent %s version %d", id, version))
	}
	return c, nil
}

// List returns current versions, newest first.
func (s *AgentStore) List(ctx context.Context, tenantID string, f agent.Filter) ([]agent.Config, error) {
	where := []string{"a.tenant_id = ?"}
	args := []any{tenantID}
	if !f.IncludeArchived {
		where = append(where, "a.archived_at IS NULL")
	}
	if f.ParentAgentID != "" {
		where = append(where, "a.parent_agent_id = ?")
		args = append(args, f.ParentAgentID)
	}
	if !f.Before.IsZero() {
		where = append(where, "(a.created_at < ? OR (a.created_at = ? AND a.id < ?))")
		args = append(args, Micros(f.Before), Micros(f.Before), f.BeforeID)
	}
	args = append(args, f.EffectiveLimit())
	rows, err := s.db.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents a
		JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.version
		WHERE `+strings.Join(where, " AND ")+` ORDER BY a.created_at DESC, a.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	out := []agent.Config{}
	for rows.Next() {
		c, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Update stores c as the next version if the head is still at
// c.Version-1 and not archived.
func (s *AgentStore) Update(ctx context.Context, c agent.Config) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE agents SET version = ?, name = ?, parent_agent_id = ?, updated_at = ?
			WHERE id = ? AND tenant_id = ? AND version = ? AND archived_at IS NULL`,
			c.Version, c.Name, nullString(c.ParentAgentID), Micros(c.UpdatedAt), c.ID, c.TenantID, c.Version-1)
		if err != nil {
			return fmt.Errorf("update agent: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var archived sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT archived_at FROM agents WHERE id = ? AND tenant_id = ?`, c.ID, c.TenantID).Scan(&archived)
			if err != nil {
				return notFound(err, "agent "+c.ID)
			}
			if archived.Valid {
				return vargate.Errorf(vargate.KindConflict, "agent %s is archived", c.ID)
			}
			return vargate.Errorf(vargate.KindConflict, "agent %s changed concurrently; retry the update", c.ID)
		}
		return insertAgentVersion(ctx, tx, c)
	})
}

// Archive sets archived_at once.
func (s *AgentStore) Archive(ctx context.Context, tenantID, id string, at time.Time) (agent.Config, error) {
	err := s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE agents SET archived_at = COALESCE(archived_at, ?), updated_at = ? WHERE id = ? AND tenant_id = ?`,
			Micros(at), Micros(at), id, tenantID)
		if err != nil {
			return fmt.Errorf("archive agent: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vargate.NotFound("agent " + id)
		}
		return nil
	})
	if err != nil {
		return agent.Config{}, err
	}
	return s.Get(ctx, tenantID, id)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
