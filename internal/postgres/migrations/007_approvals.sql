-- Human approvals (issue 9). An approval binds the exact tool call that was
-- queued: session, agent, tool, arguments (sealed with the tenant's data
-- key when they hold personal data or secrets), their digest, and the
-- policy version and decision that queued it. Status moves only forward:
--   pending → approved → executing → executed | failed
--   pending → rejected | expired
-- and every move is one conditional UPDATE, so of two concurrent deciders
-- exactly one wins. An action is marked executing, with a lease, before it
-- runs; one still executing after its lease is marked failed, never re-run.
CREATE TABLE approvals (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL REFERENCES tenants(id),
	session_id     TEXT NOT NULL DEFAULT '',
	agent_id       TEXT NOT NULL DEFAULT '',
	tool           TEXT NOT NULL,
	args           BYTEA NOT NULL,
	args_sealed    INTEGER NOT NULL DEFAULT 0,
	args_redacted  TEXT,
	args_digest    TEXT NOT NULL,
	policy_version TEXT NOT NULL DEFAULT '',
	decision_id    TEXT NOT NULL DEFAULT '',
	reasons        TEXT NOT NULL DEFAULT '[]',
	status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired')),
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	decided_at     BIGINT,
	decided_by     TEXT NOT NULL DEFAULT '',
	decision_note  TEXT NOT NULL DEFAULT '',
	runner         TEXT NOT NULL DEFAULT '',
	lease_until    BIGINT,
	finished_at    BIGINT,
	result         BYTEA,
	result_sealed  INTEGER NOT NULL DEFAULT 0,
	result_digest  TEXT NOT NULL DEFAULT '',
	failure        TEXT,
	version        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX approvals_tenant_status ON approvals (tenant_id, status, created_at);
-- The sweeper's queries: pending past expiry, executing past lease,
-- approved but never started.
CREATE INDEX approvals_status_expiry ON approvals (status, expires_at);

-- Every state change, in order. It doubles as the outbox of the change's
-- side effects: audit record, webhook, session message. audited_at and
-- notified_at are set once each is done, so that a crash between the
-- commit and the side effect is repaired by the sweeper.
CREATE TABLE approval_events (
	id          TEXT PRIMARY KEY,
	action_id   TEXT NOT NULL REFERENCES approvals(id),
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
CREATE INDEX approval_events_unsettled ON approval_events (at) WHERE audited_at IS NULL OR notified_at IS NULL;
