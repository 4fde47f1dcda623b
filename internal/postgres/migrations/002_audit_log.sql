-- Audit trail (issue 4): one hash chain per tenant with a gapless sequence
-- number, a Merkle tree over it and signed checkpoints. Records, Merkle
-- nodes and checkpoints are append-only: the triggers below refuse UPDATE,
-- DELETE and TRUNCATE. Only audit_heads (one row per tenant: the chain's
-- last seq, hash and compact Merkle range) changes, and appends lock it
-- FOR UPDATE so that gateways sharing this database extend one chain.
-- See docs/AUDIT.md.

CREATE TABLE audit_heads (
	tenant_id TEXT PRIMARY KEY,
	seq       BIGINT NOT NULL,
	hash      BYTEA NOT NULL,
	merkle    BYTEA NOT NULL
);

CREATE TABLE audit_log (
	tenant_id      TEXT NOT NULL,
	seq            BIGINT NOT NULL,
	time           BIGINT NOT NULL,
	source         TEXT NOT NULL,
	session_id     TEXT NOT NULL DEFAULT '',
	agent_id       TEXT NOT NULL DEFAULT '',
	action_id      TEXT NOT NULL DEFAULT '',
	tool           TEXT NOT NULL DEFAULT '',
	decision       TEXT NOT NULL DEFAULT '',
	policy_version TEXT NOT NULL DEFAULT '',
	decision_id    TEXT NOT NULL DEFAULT '',
	reasons        TEXT,
	args_digest    TEXT NOT NULL DEFAULT '',
	args_redacted  TEXT,
	result_digest  TEXT NOT NULL DEFAULT '',
	anomaly        TEXT,
	actor          TEXT NOT NULL DEFAULT '',
	detail         TEXT,
	prev_hash      BYTEA NOT NULL,
	hash           BYTEA NOT NULL,
	PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_session ON audit_log (tenant_id, session_id, seq) WHERE session_id <> '';
CREATE INDEX audit_log_action ON audit_log (tenant_id, action_id, seq) WHERE action_id <> '';

CREATE TABLE audit_merkle_nodes (
	tenant_id TEXT NOT NULL,
	level     INTEGER NOT NULL,
	idx       BIGINT NOT NULL,
	hash      BYTEA NOT NULL,
	PRIMARY KEY (tenant_id, level, idx)
);

CREATE TABLE audit_checkpoints (
	tenant_id  TEXT NOT NULL,
	tree_size  BIGINT NOT NULL,
	root_hash  BYTEA NOT NULL,
	note       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, tree_size)
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_merkle_nodes_append_only BEFORE UPDATE OR DELETE ON audit_merkle_nodes
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_merkle_nodes_no_truncate BEFORE TRUNCATE ON audit_merkle_nodes
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
