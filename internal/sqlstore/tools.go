package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/tools"
)

// ToolStore implements tools.Store.
type ToolStore struct{ db *DB }

var _ tools.Store = (*ToolStore)(nil)

// NewToolStore returns the tenant tool store over db.
func NewToolStore(db *DB) *ToolStore { return &ToolStore{db: db} }

const toolColumns = `tenant_id, name, description, input_schema, request, credential, read_only, created_at, created_by`

// CreateTenantTool inserts a definition; a duplicate name is a conflict.
func (s *ToolStore) CreateTenantTool(ctx context.Context, t tools.TenantTool) error {
	req, err := json.Marshal(t.Request)
	if err != nil {
		return fmt.Errorf("encode request template: %w", err)
	}
	var cred sql.NullString
	if t.Credential != nil {
		b, err := json.Marshal(t.Credential)
		if err != nil {
			return fmt.Errorf("encode credential reference: %w", err)
		}
		cred = sql.NullString{String: string(b), Valid: true}
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenant_tools (`+toolColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.TenantID, t.Name, t.Description, string(t.InputSchema), string(req), cred, t.ReadOnly, Micros(t.CreatedAt), t.CreatedBy)
		return err
	})
}

func scanTool(sc interface{ Scan(...any) error }) (tools.TenantTool, error) {
	var t tools.TenantTool
	var schema, req string
	var cred sql.NullString
	var created int64
	if err := sc.Scan(&t.TenantID, &t.Name, &t.Description, &schema, &req, &cred, &t.ReadOnly, &created, &t.CreatedBy); err != nil {
		return tools.TenantTool{}, err
	}
	t.InputSchema = json.RawMessage(schema)
	if err := json.Unmarshal([]byte(req), &t.Request); err != nil {
		return tools.TenantTool{}, fmt.Errorf("decode request template of tool %s: %w", t.Name, err)
	}
	if cred.Valid {
		t.Credential = new(tools.CredentialRef)
		if err := json.Unmarshal([]byte(cred.String), t.Credential); err != nil {
			return tools.TenantTool{}, fmt.Errorf("decode credential reference of tool %s: %w", t.Name, err)
		}
	}
	t.CreatedAt = FromMicros(created)
	return t, nil
}

// TenantTools returns the tenant's definitions by name.
func (s *ToolStore) TenantTools(ctx context.Context, tenantID string) ([]tools.TenantTool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+toolColumns+` FROM tenant_tools WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []tools.TenantTool
	for rows.Next() {
		t, err := scanTool(rows)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// TenantTool returns one definition.
func (s *ToolStore) TenantTool(ctx context.Context, tenantID, name string) (tools.TenantTool, error) {
	t, err := scanTool(s.db.QueryRowContext(ctx, `SELECT `+toolColumns+` FROM tenant_tools WHERE tenant_id = ? AND name = ?`, tenantID, name))
	if err != nil {
		return tools.TenantTool{}, notFound(err, "tool "+name)
	}
	return t, nil
}

// DeleteTenantTool removes a definition.
func (s *ToolStore) DeleteTenantTool(ctx context.Context, tenantID, name string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tenant_tools WHERE tenant_id = ? AND name = ?`, tenantID, name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return vargate.NotFound("tool " + name)
		}
		return nil
	})
}
