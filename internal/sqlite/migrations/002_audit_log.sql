-- Audit trail (issue 4): one hash chain per tenant with a gapless sequence
-- number, a Merkle tree over it and signed checkpoints. Records, Merkle
-- nodes and checkpoints are append-only: the triggers below refuse UPDATE
-- and DELETE. Only audit_heads (one row per tenant: the chain's last seq,
-- hash and compact Merkle range) changes, and appends lock it to serialise
-- writers. See docs/AUDIT.md.

CREATE TABLE audit_heads (
	tenant_id TEXT PRIMARY KEY,
	seq       BIGINT NOT NULL,
	hash      BLOB NOT NULL,
	merkle    BLOB NOT NULL
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
	prev_hash      BLOB NOT NULL,
	hash           BLOB NOT NULL,
	PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
CREATE INDEX audit_log_session ON audit_log (tenant_id, session_id, seq) WHERE session_id <> '';
CREATE INDEX audit_log_action ON audit_log (tenant_id, action_id, seq) WHERE action_id <> '';

CREATE TABLE audit_merkle_nodes (
	tenant_id TEXT NOT NULL,
	level     INTEGER NOT NULL,
	idx       BIGINT NOT NULL,
	hash      BLOB NOT NULL,
	PRIMARY KEY (tenant_id, level, idx)
) WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
	tenant_id  TEXT NOT NULL,
	tree_size  BIGINT NOT NULL,
	root_hash  BLOB NOT NULL,
	note       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, tree_size)
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_merkle_nodes_no_update BEFORE UPDATE ON audit_merkle_nodes
BEGIN SELECT RAISE(ABORT, 'audit_merkle_nodes is append-only'); END;
CREATE TRIGGER audit_merkle_nodes_no_delete BEFORE DELETE ON audit_merkle_nodes
BEGIN SELECT RAISE(ABORT, 'audit_merkle_nodes is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
