package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/vault"
)

// VaultStore implements vault.Store.
type VaultStore struct{ db *DB }

var _ vault.Store = (*VaultStore)(nil)

// NewVaultStore returns the credential vault store over db.
func NewVaultStore(db *DB) *VaultStore { return &VaultStore{db: db} }

const dataKeyColumns = `id, tenant_id, kek_id, wrapped, created_at, rewrapped_at`

func scanDataKey(sc interface{ Scan(...any) error }) (vault.DataKey, error) {
	var k vault.DataKey
	var created int64
	var rewrapped sql.NullInt64
	if err := sc.Scan(&k.ID, &k.TenantID, &k.KEKID, &k.Wrapped, &created, &rewrapped); err != nil {
		return vault.DataKey{}, err
	}
	k.CreatedAt = FromMicros(created)
	k.RewrappedAt = NullMicros(rewrapped)
	return k, nil
}

// DataKey returns the tenant's data key.
func (s *VaultStore) DataKey(ctx context.Context, tenantID string) (vault.DataKey, error) {
	k, err := scanDataKey(s.db.QueryRowContext(ctx, `SELECT `+dataKeyColumns+` FROM vault_data_keys WHERE tenant_id = ?`, tenantID))
	if err != nil {
		return vault.DataKey{}, notFound(err, "data key")
	}
	return k, nil
}

// CreateDataKey stores a tenant's data key; a second one is a conflict.
func (s *VaultStore) CreateDataKey(ctx context.Context, k vault.DataKey) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO vault_data_keys (id, tenant_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, k.TenantID, k.KEKID, k.Wrapped, Micros(k.CreatedAt))
		return err
	})
}

// DataKeysNotUnder returns data keys not wrapped by kekID, by ID.
func (s *VaultStore) DataKeysNotUnder(ctx context.Context, kekID, afterID string, limit int) ([]vault.DataKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+dataKeyColumns+` FROM vault_data_keys
		WHERE kek_id <> ? AND id > ? ORDER BY id LIMIT ?`, kekID, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ks []vault.DataKey
	for rows.Next() {
		k, err := scanDataKey(rows)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

// RewrapDataKey swaps the wrapping if the key is still under fromKEK.
func (s *VaultStore) RewrapDataKey(ctx context.Context, id, fromKEK string, wrapped []byte, toKEK string, at time.Time) (bool, error) {
	var done bool
	err := s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE vault_data_keys SET wrapped = ?, kek_id = ?, rewrapped_at = ? WHERE id = ? AND kek_id = ?`,
			wrapped, toKEK, Micros(at), id, fromKEK)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n == 1
		return err
	})
	return done, err
}

// KEKUsage counts data keys per KEK.
func (s *VaultStore) KEKUsage(ctx context.Context) ([]vault.KEKUsage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kek_id, COUNT(*) FROM vault_data_keys GROUP BY kek_id ORDER BY kek_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []vault.KEKUsage
	for rows.Next() {
		var u vault.KEKUsage
		if err := rows.Scan(&u.KEKID, &u.DataKeys); err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// InsertCredential assigns the next version, seals and inserts it, and
// supersedes the previously active version, in one transaction. Locking
// the tenant's data key row serialises a tenant's registrations on
// PostgreSQL (SQLite's single writer already does).
func (s *VaultStore) InsertCredential(ctx context.Context, m vault.Metadata, dataKeyID string, seal func(vault.Metadata) []byte) (vault.Metadata, error) {
	err := s.db.InTx(ctx, func(tx *Tx) error {
		var locked string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM vault_data_keys WHERE id = ? AND tenant_id = ?`+tx.ForUpdate(),
			dataKeyID, m.TenantID).Scan(&locked); err != nil {
			return notFound(err, "data key")
		}
		var latest int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM vault_credentials
			WHERE tenant_id = ? AND tool_id = ? AND name = ?`, m.TenantID, m.ToolID, m.Name).Scan(&latest); err != nil {
			return err
		}
		m.Version = latest + 1
		sealed := seal(m)
		// The superseded version's sealed value is destroyed, not kept.
		if _, err := tx.ExecContext(ctx, `UPDATE vault_credentials
			SET state = 'superseded', sealed = NULL, destroyed_at = ?
			WHERE tenant_id = ? AND tool_id = ? AND name = ? AND state = 'active'`,
			Micros(m.CreatedAt), m.TenantID, m.ToolID, m.Name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO vault_credentials
			(id, tenant_id, tool_id, name, credential_type, version, state, data_key_id, sealed, fingerprint, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)`,
			m.ID, m.TenantID, m.ToolID, m.Name, string(m.Type), m.Version, dataKeyID, sealed, m.Fingerprint, Micros(m.CreatedAt))
		return err
	})
	if err != nil {
		return vault.Metadata{}, err
	}
	return m, nil
}

const credentialColumns = `id, tenant_id, tool_id, name, credential_type, version, state, fingerprint, created_at, last_used_at, destroyed_at`

func scanCredential(sc interface{ Scan(...any) error }, extra ...any) (vault.Metadata, error) {
	var m vault.Metadata
	var typ, state string
	var created int64
	var used, destroyed sql.NullInt64
	dst := append([]any{&m.ID, &m.TenantID, &m.ToolID, &m.Name, &typ, &m.Version, &state, &m.Fingerprint, &created, &used, &destroyed}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return vault.Metadata{}, err
	}
	m.Type = vault.Type(typ)
	m.State = vault.State(state)
	m.CreatedAt = FromMicros(created)
	m.LastUsedAt = NullMicros(used)
	m.DestroyedAt = NullMicros(destroyed)
	return m, nil
}

// Credential returns a credential's metadata, in any state.
func (s *VaultStore) Credential(ctx context.Context, tenantID, id string) (vault.Metadata, error) {
	m, err := scanCredential(s.db.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM vault_credentials
		WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return vault.Metadata{}, notFound(err, "credential")
	}
	return m, nil
}

// ListCredentials returns the tenant's credentials.
func (s *VaultStore) ListCredentials(ctx context.Context, tenantID string, f vault.Filter) ([]vault.Metadata, error) {
	q := `SELECT ` + credentialColumns + ` FROM vault_credentials WHERE tenant_id = ?`
	args := []any{tenantID}
	if !f.All {
		q += ` AND state = 'active'`
	}
	if f.ToolID != "" {
		q += ` AND tool_id = ?`
		args = append(args, f.ToolID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY tool_id, name, version DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []vault.Metadata
	for rows.Next() {
		m, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// ActiveCredential returns the active version with its sealed value.
func (s *VaultStore) ActiveCredential(ctx context.Context, tenantID, toolID, name string) (vault.Sealed, error) {
	var c vault.Sealed
	m, err := scanCredential(s.db.QueryRowContext(ctx, `SELECT `+credentialColumns+`, data_key_id, sealed FROM vault_credentials
		WHERE tenant_id = ? AND tool_id = ? AND name = ? AND state = 'active'`, tenantID, toolID, name),
		&c.DataKeyID, &c.Value)
	if err != nil {
		return vault.Sealed{}, notFound(err, "credential")
	}
	c.Metadata = m
	return c, nil
}

// DeleteCredential destroys an active credential's sealed value.
func (s *VaultStore) DeleteCredential(ctx context.Context, tenantID, id string, at time.Time) (vault.Metadata, error) {
	var m vault.Metadata
	err := s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE vault_credentials
			SET state = 'deleted', sealed = NULL, destroyed_at = ?
			WHERE tenant_id = ? AND id = ? AND state = 'active'`, Micros(at), tenantID, id); err != nil {
			return err
		}
		var err error
		m, err = scanCredential(tx.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM vault_credentials
			WHERE tenant_id = ? AND id = ?`, tenantID, id))
		return notFound(err, "credential")
	})
	return m, err
}

// TouchCredential sets last_used_at.
func (s *VaultStore) TouchCredential(ctx context.Context, tenantID, id string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE vault_credentials SET last_used_at = ? WHERE tenant_id = ? AND id = ?`,
			Micros(at), tenantID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vargate.NotFound("credential")
		}
		return nil
	})
}
