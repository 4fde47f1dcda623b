package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/upstream"
)

// UpstreamStore implements upstream.Store.
type UpstreamStore struct{ db *DB }

var _ upstream.Store = (*UpstreamStore)(nil)

// NewUpstreamStore returns the upstream MCP server store over db.
func NewUpstreamStore(db *DB) *UpstreamStore { return &UpstreamStore{db: db} }

// upstreamConfig is what the config column holds.
type upstreamConfig struct {
	URL        string               `json:"url,omitempty"`
	Command    []string             `json:"command,omitempty"`
	Credential *upstream.Credential `json:"credential,omitempty"`
	Timeouts   upstream.Timeouts    `json:"timeouts"`
}

func encodeUpstream(u upstream.Upstream) (string, error) {
	b, err := json.Marshal(upstreamConfig{URL: u.URL, Command: u.Command, Credential: u.Credential, Timeouts: u.Timeouts})
	if err != nil {
		return "", fmt.Errorf("encode upstream %s: %w", u.Name, err)
	}
	return string(b), nil
}

// CreateUpstream inserts an upstream and its first pins.
func (s *UpstreamStore) CreateUpstream(ctx context.Context, u upstream.Upstream, pins []upstream.Pin) error {
	cfg, err := encodeUpstream(u)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mcp_upstreams (tenant_id, name, config, created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.TenantID, u.Name, cfg, Micros(u.CreatedAt), u.CreatedBy, Micros(u.UpdatedAt)); err != nil {
			return err
		}
		return upsertPins(ctx, tx, pins)
	})
}

func upsertPins(ctx context.Context, tx *Tx, pins []upstream.Pin) error {
	for _, p := range pins {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mcp_upstream_pins (tenant_id, upstream, tool, digest, definition, approved_at, approved_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, upstream, tool) DO UPDATE SET digest = excluded.digest, definition = excluded.definition,
				approved_at = excluded.approved_at, approved_by = excluded.approved_by`,
			p.TenantID, p.Upstream, p.Tool, p.Digest, string(p.Definition), Micros(p.ApprovedAt), p.ApprovedBy); err != nil {
			return err
		}
	}
	return nil
}

const upstreamColumns = `tenant_id, name, config, created_at, created_by, updated_at`

func scanUpstream(sc interface{ Scan(...any) error }) (upstream.Upstream, error) {
	var u upstream.Upstream
	var cfg string
	var created, updated int64
	if err := sc.Scan(&u.TenantID, &u.Name, &cfg, &created, &u.CreatedBy, &updated); err != nil {
		return upstream.Upstream{}, err
	}
	var c upstreamConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		return upstream.Upstream{}, fmt.Errorf("decode upstream %s: %w", u.Name, err)
	}
	u.URL, u.Command, u.Credential, u.Timeouts = c.URL, c.Command, c.Credential, c.Timeouts
	u.CreatedAt, u.UpdatedAt = FromMicros(created), FromMicros(updated)
	return u, nil
}

// Upstreams returns the tenant's upstreams by name.
func (s *UpstreamStore) Upstreams(ctx context.Context, tenantID string) ([]upstream.Upstream, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+upstreamColumns+` FROM mcp_upstreams WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []upstream.Upstream
	for rows.Next() {
		u, err := scanUpstream(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Upstream returns one upstream.
func (s *UpstreamStore) Upstream(ctx context.Context, tenantID, name string) (upstream.Upstream, error) {
	u, err := scanUpstream(s.db.QueryRowContext(ctx, `SELECT `+upstreamColumns+` FROM mcp_upstreams WHERE tenant_id = ? AND name = ?`, tenantID, name))
	if err != nil {
		return upstream.Upstream{}, notFound(err, "upstream "+name)
	}
	return u, nil
}

// UpdateUpstream replaces an upstream's configuration.
func (s *UpstreamStore) UpdateUpstream(ctx context.Context, u upstream.Upstream) error {
	cfg, err := encodeUpstream(u)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mcp_upstreams SET config = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`,
			cfg, Micros(u.UpdatedAt), u.TenantID, u.Name)
		if err != nil {
			return err
		}
		return oneRow(res, "upstream "+u.Name)
	})
}

// DeleteUpstream removes an upstream and its pins.
func (s *UpstreamStore) DeleteUpstream(ctx context.Context, tenantID, name string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mcp_upstream_pins WHERE tenant_id = ? AND upstream = ?`, tenantID, name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM mcp_upstreams WHERE tenant_id = ? AND name = ?`, tenantID, name)
		if err != nil {
			return err
		}
		return oneRow(res, "upstream "+name)
	})
}

// Pins returns the tenant's pins by upstream and tool.
func (s *UpstreamStore) Pins(ctx context.Context, tenantID string) ([]upstream.Pin, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tenant_id, upstream, tool, digest, definition, approved_at, approved_by
		FROM mcp_upstream_pins WHERE tenant_id = ? ORDER BY upstream, tool`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []upstream.Pin
	for rows.Next() {
		var p upstream.Pin
		var def string
		var at int64
		if err := rows.Scan(&p.TenantID, &p.Upstream, &p.Tool, &p.Digest, &def, &at, &p.ApprovedBy); err != nil {
			return nil, err
		}
		p.Definition, p.ApprovedAt = json.RawMessage(def), FromMicros(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetPins upserts and removes pins of one upstream in one transaction.
func (s *UpstreamStore) SetPins(ctx context.Context, tenantID, name string, upsert []upstream.Pin, remove []string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		// Lock the upstream's row: approvals of one upstream are serialised,
		// and one deleted meanwhile is not found.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM mcp_upstreams WHERE tenant_id = ? AND name = ?`+tx.ForUpdate(), tenantID, name).Scan(&one); err != nil {
			return notFound(err, "upstream "+name)
		}
		for _, t := range remove {
			if _, err := tx.ExecContext(ctx, `DELETE FROM mcp_upstream_pins WHERE tenant_id = ? AND upstream = ? AND tool = ?`, tenantID, name, t); err != nil {
				return err
			}
		}
		for i := range upsert {
			upsert[i].TenantID, upsert[i].Upstream = tenantID, name
		}
		return upsertPins(ctx, tx, upsert)
	})
}

func oneRow(res interface{ RowsAffected() (int64, error) }, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return vargate.NotFound(what)
	}
	return nil
}
