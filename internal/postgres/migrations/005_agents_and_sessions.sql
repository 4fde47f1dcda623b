-- Agent configurations and governed sessions (issue 7).
--
-- An agent configuration is versioned: agents holds the head (current
-- version, archive state), agent_versions every version, never updated.
-- A session pins the version it started with. agent_upstream remembers the
-- Anthropic agent and environment that mirror a configuration for one
-- Anthropic account, so sessions reuse them until the configuration
-- changes.
--
-- Budgets are enforced by counting sessions rows under a per-tenant row
-- lock (session_settings, one row per tenant, also holding the tenant's
-- overrides): a reservation is a sessions row in status 'creating', and a
-- creation that fails upstream deletes its row, so nothing is left
-- counting. Statuses that count as running: creating, active,
-- awaiting_approval.

CREATE TABLE agents (
	id              TEXT PRIMARY KEY,
	tenant_id       TEXT NOT NULL REFERENCES tenants(id),
	version         INTEGER NOT NULL,
	name            TEXT NOT NULL,
	parent_agent_id TEXT,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	archived_at     BIGINT
);
CREATE INDEX agents_tenant ON agents (tenant_id, created_at);
CREATE INDEX agents_parent ON agents (tenant_id, parent_agent_id);

CREATE TABLE agent_versions (
	agent_id               TEXT NOT NULL REFERENCES agents(id),
	version                INTEGER NOT NULL,
	tenant_id              TEXT NOT NULL,
	name                   TEXT NOT NULL,
	anthropic_model        TEXT NOT NULL,
	system_prompt          TEXT NOT NULL,
	allowed_tools          TEXT NOT NULL,
	require_human_approval TEXT NOT NULL,
	max_session_hours      DOUBLE PRECISION NOT NULL,
	max_daily_sessions     INTEGER NOT NULL,
	max_delegation_depth   INTEGER NOT NULL,
	risk_level             TEXT NOT NULL,
	pii_detection          INTEGER NOT NULL,
	network                TEXT NOT NULL CHECK (network IN ('limited', 'unrestricted')),
	allowed_domains        TEXT NOT NULL,
	parent_agent_id        TEXT,
	governed_builtin_tools TEXT NOT NULL,
	created_at             BIGINT NOT NULL,
	created_by             TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (agent_id, version)
);

CREATE TABLE agent_upstream (
	agent_id           TEXT NOT NULL REFERENCES agents(id),
	account            TEXT NOT NULL,
	config_version     INTEGER NOT NULL,
	anthropic_agent_id TEXT NOT NULL,
	anthropic_version  BIGINT NOT NULL,
	environment_id     TEXT NOT NULL,
	environment_hash   TEXT NOT NULL,
	updated_at         BIGINT NOT NULL,
	PRIMARY KEY (agent_id, account)
);

CREATE TABLE session_settings (
	tenant_id           TEXT PRIMARY KEY REFERENCES tenants(id),
	governance_template TEXT,
	max_concurrent      INTEGER,
	max_daily           INTEGER,
	updated_at          BIGINT NOT NULL
);

CREATE TABLE sessions (
	id                   TEXT PRIMARY KEY,
	tenant_id            TEXT NOT NULL REFERENCES tenants(id),
	agent_id             TEXT NOT NULL REFERENCES agents(id),
	agent_version        INTEGER NOT NULL,
	status               TEXT NOT NULL CHECK (status IN ('creating', 'active', 'awaiting_approval', 'completed', 'interrupted', 'expired', 'failed')),
	token_id             TEXT NOT NULL,
	token_hash           BYTEA NOT NULL UNIQUE,
	account              TEXT NOT NULL DEFAULT '',
	anthropic_session_id TEXT NOT NULL DEFAULT '',
	anthropic_agent_id   TEXT NOT NULL DEFAULT '',
	environment_id       TEXT NOT NULL DEFAULT '',
	vault_id             TEXT NOT NULL DEFAULT '',
	system_prompt_hash   TEXT NOT NULL DEFAULT '',
	mcp_server_url       TEXT NOT NULL,
	delegation_chain     TEXT NOT NULL,
	parent_session_id    TEXT NOT NULL DEFAULT '',
	stop_reason          TEXT NOT NULL DEFAULT '',
	end_reason           TEXT NOT NULL DEFAULT '',
	created_by           TEXT NOT NULL DEFAULT '',
	created_at           BIGINT NOT NULL,
	updated_at           BIGINT NOT NULL,
	expires_at           BIGINT NOT NULL,
	ended_at             BIGINT,
	cleaned_at           BIGINT
);
CREATE INDEX sessions_tenant_status ON sessions (tenant_id, status);
CREATE INDEX sessions_tenant_created ON sessions (tenant_id, created_at);
CREATE INDEX sessions_agent_created ON sessions (agent_id, created_at);
CREATE INDEX sessions_due ON sessions (expires_at) WHERE cleaned_at IS NULL;

-- Approval outcomes already told to a session's agent, so that a
-- settlement reported twice is sent once.
CREATE TABLE session_notices (
	session_id TEXT NOT NULL REFERENCES sessions(id),
	action_id  TEXT NOT NULL,
	status     TEXT NOT NULL,
	sent_at    BIGINT NOT NULL,
	PRIMARY KEY (session_id, action_id, status)
);
