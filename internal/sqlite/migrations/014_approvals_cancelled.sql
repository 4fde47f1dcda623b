-- Approvals die with their session (issue 17): an action still waiting
-- (pending, or approved but not started) whose session ended, whose agent
-- was archived or no longer allows its tool, or whose agent key was
-- revoked is settled as cancelled, through the same compare-and-set and
-- event row as every other move. key_id is the agent key (or session
-- token) that queued the action, so that revoking a key finds its actions.
--
-- SQLite cannot change a CHECK constraint in place: both tables are
-- rebuilt. The event table is made first against the new approvals table,
-- so no foreign key ever points at a missing row; renaming approvals_new
-- afterwards rewrites that reference to the final name.
CREATE TABLE approvals_new (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL REFERENCES tenants(id),
	session_id     TEXT NOT NULL DEFAULT '',
	agent_id       TEXT NOT NULL DEFAULT '',
	key_id         TEXT NOT NULL DEFAULT '',
	tool           TEXT NOT NULL,
	args           BLOB NOT NULL,
	args_sealed    INTEGER NOT NULL DEFAULT 0,
	args_redacted  TEXT,
	args_digest    TEXT NOT NULL,
	policy_version TEXT NOT NULL DEFAULT '',
	decision_id    TEXT NOT NULL DEFAULT '',
	reasons        TEXT NOT NULL DEFAULT '[]',
	status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired', 'cancelled')),
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	decided_at     BIGINT,
	decided_by     TEXT NOT NULL DEFAULT '',
	decision_note  TEXT NOT NULL DEFAULT '',
	runner         TEXT NOT NULL DEFAULT '',
	lease_until    BIGINT,
	finished_at    BIGINT,
	result         BLOB,
	result_sealed  INTEGER NOT NULL DEFAULT 0,
	result_digest  TEXT NOT NULL DEFAULT '',
	failure        TEXT,
	version        INTEGER NOT NULL DEFAULT 1
);
INSERT INTO approvals_new (id, tenant_id, session_id, agent_id, tool, args, args_sealed, args_redacted, args_digest,
		policy_version, decision_id, reasons, status, created_at, expires_at, decided_at, decided_by, decision_note,
		runner, lease_until, finished_at, result, result_sealed, result_digest, failure, version)
	SELECT id, tenant_id, session_id, agent_id, tool, args, args_sealed, args_redacted, args_digest,
		policy_version, decision_id, reasons, status, created_at, expires_at, decided_at, decided_by, decision_note,
		runner, lease_until, finished_at, result, result_sealed, result_digest, failure, version
	FROM approvals;

CREATE TABLE approval_events_new (
	id          TEXT PRIMARY KEY,
	action_id   TEXT NOT NULL REFERENCES approvals_new(id),
	tenant_id   TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	at          BIGINT NOT NULL,
	from_status TEXT NOT NULL DEFAULT '',
	to_status   TEXT NOT NULL,
	actor       TEXT NOT NULL DEFAULT '',
	note        TEXT NOT NULL DEFAULT '',
	audited_at  BIGINT,
	notified_at BIGINT,
	UNIQUE (action_id, seq)
);
INSERT INTO approval_events_new (id, action_id, tenant_id, seq, at, from_status, to_status, actor, note, audited_at, notified_at)
	SELECT id, action_id, tenant_id, seq, at, from_status, to_status, actor, note, audited_at, notified_at FROM approval_events;

DROP TABLE approval_events;
DROP TABLE approvals;
ALTER TABLE approvals_new RENAME TO approvals;
ALTER TABLE approval_events_new RENAME TO approval_events;

CREATE INDEX approvals_tenant_status ON approvals (tenant_id, status, created_at);
CREATE INDEX approvals_status_expiry ON approvals (status, expires_at);
-- Cancellation looks up what is still waiting by session, agent or key.
CREATE INDEX approvals_waiting_session ON approvals (tenant_id, session_id) WHERE status IN ('pending', 'approved');
CREATE INDEX approvals_waiting_agent ON approvals (tenant_id, agent_id) WHERE status IN ('pending', 'approved');
CREATE INDEX approval_events_unsettled ON approval_events (at) WHERE audited_at IS NULL OR notified_at IS NULL;
