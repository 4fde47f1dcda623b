package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
)

// AuthStore implements auth.Store.
type AuthStore struct{ db *DB }

var _ auth.Store = (*AuthStore)(nil)

// NewAuthStore returns the tenant and key store over db.
func NewAuthStore(db *DB) *AuthStore { return &AuthStore{db: db} }

// CreateTenant inserts a tenant; a duplicate name is a conflict.
func (s *AuthStore) CreateTenant(ctx context.Context, t auth.Tenant) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
			t.ID, t.Name, Micros(t.CreatedAt))
		return err
	})
}

// GetTenant returns the tenant with the given ID.
func (s *AuthStore) GetTenant(ctx context.Context, id string) (auth.Tenant, error) {
	return s.tenantWhere(ctx, `id = ?`, id)
}

// GetTenantByName returns the tenant with the given name.
func (s *AuthStore) GetTenantByName(ctx context.Context, name string) (auth.Tenant, error) {
	return s.tenantWhere(ctx, `name = ?`, name)
}

func (s *AuthStore) tenantWhere(ctx context.Context, where string, arg any) (auth.Tenant, error) {
	var t auth.Tenant
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE `+where, arg).
		Scan(&t.ID, &t.Name, &created)
	if err != nil {
		return auth.Tenant{}, notFound(err, "tenant")
	}
	t.CreatedAt = FromMicros(created)
	return t, nil
}

// ListTenants returns every tenant by name.
func (s *AuthStore) ListTenants(ctx context.Context) ([]auth.Tenant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []auth.Tenant
	for rows.Next() {
		var t auth.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, err
		}
		t.CreatedAt = FromMicros(created)
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// CreateKey inserts a key.
func (s *AuthStore) CreateKey(ctx context.Context, k auth.APIKey) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys
			(id, tenant_id, role, agent_id, name, prefix, key_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.TenantID, string(k.Role), nullString(k.AgentID), k.Name, k.Prefix, k.Hash, Micros(k.CreatedAt))
		return err
	})
}

const keyColumns = `id, tenant_id, role, agent_id, name, prefix, key_hash, created_at, revoked_at, last_used_at`

func scanKey(sc interface{ Scan(...any) error }) (auth.APIKey, error) {
	var k auth.APIKey
	var role string
	var agent sql.NullString
	var created int64
	var revoked, used sql.NullInt64
	if err := sc.Scan(&k.ID, &k.TenantID, &role, &agent, &k.Name, &k.Prefix, &k.Hash, &created, &revoked, &used); err != nil {
		return auth.APIKey{}, err
	}
	k.Role = vargate.Role(role)
	k.AgentID = agent.String
	k.CreatedAt = FromMicros(created)
	k.RevokedAt = NullMicros(revoked)
	k.LastUsedAt = NullMicros(used)
	return k, nil
}

// KeyByHash returns the key whose hash matches.
func (s *AuthStore) KeyByHash(ctx context.Context, hash []byte) (auth.APIKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE key_hash = ?`, hash))
	if err != nil {
		return auth.APIKey{}, notFound(err, "api key")
	}
	return k, nil
}

// ListKeys returns the tenant's keys, newest first.
func (s *AuthStore) ListKeys(ctx context.Context, tenantID string) ([]auth.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ks []auth.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

// RevokeKey sets revoked_at once; a key of another tenant is not found.
func (s *AuthStore) RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?`,
			Micros(at), keyID, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vargate.NotFound("api key")
		}
		return nil
	})
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
