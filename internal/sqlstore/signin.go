package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
)

// SigninStore keeps the dashboard's sign-in sessions (auth.SigninStore).
type SigninStore struct{ db *DB }

// NewSigninStore returns a SigninStore over db.
func NewSigninStore(db *DB) *SigninStore { return &SigninStore{db: db} }

// CreateSignin implements auth.SigninStore.
func (s *SigninStore) CreateSignin(ctx context.Context, si auth.Signin, idleBefore, createdBefore time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ui_signins WHERE last_seen < ? OR created_at < ?`,
			Micros(idleBefore), Micros(createdBefore)); err != nil {
			return fmt.Errorf("delete expired sign-ins: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ui_signins (id, tenant_id, tenant_name, key_id, role, key_hash, csrf, created_at, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, si.ID, si.Principal.TenantID, si.Tenant, si.Principal.KeyID, string(si.Principal.Role),
			si.KeyHash, si.CSRF, Micros(si.CreatedAt), Micros(si.LastSeen)); err != nil {
			return fmt.Errorf("store sign-in: %w", err)
		}
		return nil
	})
}

// Signin implements auth.SigninStore.
func (s *SigninStore) Signin(ctx context.Context, id string) (auth.Signin, error) {
	si := auth.Signin{ID: id}
	var role string
	var created, seen int64
	err := s.db.QueryRowContext(ctx, `SELECT tenant_id, tenant_name, key_id, role, key_hash, csrf, created_at, last_seen
		FROM ui_signins WHERE id = ?`, id).Scan(&si.Principal.TenantID, &si.Tenant, &si.Principal.KeyID, &role, &si.KeyHash, &si.CSRF, &created, &seen)
	if err != nil {
		return auth.Signin{}, notFound(err, "sign-in session")
	}
	si.Principal.Role = vargate.Role(role)
	si.CreatedAt, si.LastSeen = FromMicros(created), FromMicros(seen)
	return si, nil
}

// TouchSignin implements auth.SigninStore.
func (s *SigninStore) TouchSignin(ctx context.Context, id string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE ui_signins SET last_seen = ? WHERE id = ? AND last_seen < ?`, Micros(at), id, Micros(at))
		return err
	})
}

// DeleteSignin implements auth.SigninStore.
func (s *SigninStore) DeleteSignin(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM ui_signins WHERE id = ?`, id)
		return err
	})
}

var _ auth.SigninStore = (*SigninStore)(nil)
