CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants(id),
	role         TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'auditor', 'agent')),
	agent_id     TEXT,
	name         TEXT NOT NULL DEFAULT '',
	prefix       TEXT NOT NULL,
	key_hash     BYTEA NOT NULL UNIQUE,
	created_at   BIGINT NOT NULL,
	revoked_at   BIGINT,
	last_used_at BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
