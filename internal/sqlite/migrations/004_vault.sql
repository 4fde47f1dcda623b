-- Credential vault (issue 6). Envelope encryption: each tenant has one data
-- key (DEK), stored only wrapped by a key-encryption key (KEK) that never
-- enters the database; each credential value is sealed with its tenant's
-- DEK (AES-256-GCM, additional data binding tenant, id, tool, name, type
-- and version). Superseded and deleted versions keep their metadata, so
-- audit records that name them still resolve, but their sealed value is
-- set to NULL: the key material is gone.

CREATE TABLE vault_data_keys (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL UNIQUE REFERENCES tenants(id),
	kek_id       TEXT NOT NULL,
	wrapped      BLOB NOT NULL,
	created_at   BIGINT NOT NULL,
	rewrapped_at BIGINT
);
CREATE INDEX vault_data_keys_kek ON vault_data_keys (kek_id);

CREATE TABLE vault_credentials (
	id              TEXT PRIMARY KEY,
	tenant_id       TEXT NOT NULL REFERENCES tenants(id),
	tool_id         TEXT NOT NULL,
	name            TEXT NOT NULL,
	credential_type TEXT NOT NULL,
	version         INTEGER NOT NULL,
	state           TEXT NOT NULL CHECK (state IN ('active', 'superseded', 'deleted')),
	data_key_id     TEXT NOT NULL REFERENCES vault_data_keys(id),
	sealed          BLOB,
	fingerprint     TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	last_used_at    BIGINT,
	destroyed_at    BIGINT,
	CHECK ((state = 'active') = (sealed IS NOT NULL)),
	UNIQUE (tenant_id, tool_id, name, version)
);
-- At most one usable version per (tenant, tool, name).
CREATE UNIQUE INDEX vault_credentials_active ON vault_credentials (tenant_id, tool_id, name) WHERE state = 'active';
