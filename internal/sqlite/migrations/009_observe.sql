-- Event consumer (issue 10). observe_sessions holds one row per observed
-- Managed Agents session: the governance snapshot the consumer applies,
-- where it has got to in the event stream (cursor, next seq, decayed
-- anomaly score) and its lease. A gateway process consumes a session only
-- while it holds the lease (owner, lease_until); every write of consumer
-- state is fenced on the owner, so a process that lost its lease cannot
-- overwrite its successor's progress. A lifecycle step decided by a batch
-- of events (pending_step: the session idled, resumed or failed) is stored
-- with the batch and cleared once the session lifecycle took it, so a
-- crash in between is repaired on resume. outcome is the session's final
-- status once the consumer is done.
CREATE TABLE observe_sessions (
	session_id        TEXT PRIMARY KEY,
	tenant_id         TEXT NOT NULL REFERENCES tenants(id),
	upstream_id       TEXT NOT NULL,
	agent_id          TEXT NOT NULL DEFAULT '',
	target            TEXT NOT NULL,
	state             TEXT NOT NULL CHECK (state IN ('active', 'done')),
	outcome           TEXT NOT NULL DEFAULT '',
	pending_step      TEXT NOT NULL DEFAULT '',
	owner             TEXT NOT NULL DEFAULT '',
	lease_until       BIGINT NOT NULL DEFAULT 0,
	cursor_at         BIGINT NOT NULL DEFAULT 0,
	next_seq          BIGINT NOT NULL DEFAULT 1,
	score             DOUBLE PRECISION NOT NULL DEFAULT 0,
	score_at          BIGINT NOT NULL DEFAULT 0,
	upstream_status   TEXT NOT NULL DEFAULT '',
	auto_interrupted  INTEGER NOT NULL DEFAULT 0,
	interrupt_event   TEXT NOT NULL DEFAULT '',
	created_at        BIGINT NOT NULL,
	updated_at        BIGINT NOT NULL,
	ended_at          BIGINT
);
CREATE INDEX observe_sessions_claimable ON observe_sessions (state, lease_until);
CREATE INDEX observe_sessions_tenant ON observe_sessions (tenant_id, created_at);

-- Every event of a session, once: the primary key is the deduplication
-- that makes reconnects, back-fills and duplicated deliveries harmless.
-- seq is the order in which the consumer handled the events.
CREATE TABLE observe_events (
	session_id   TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	tenant_id    TEXT NOT NULL,
	seq          BIGINT NOT NULL,
	type         TEXT NOT NULL,
	thread_id    TEXT NOT NULL DEFAULT '',
	processed_at BIGINT NOT NULL,
	received_at  BIGINT NOT NULL,
	PRIMARY KEY (session_id, event_id)
);
CREATE INDEX observe_events_seq ON observe_events (session_id, seq);

-- Tool uses seen on the stream, from the use to its audit record: the
-- record is written once the result arrives (audited_at set afterwards,
-- so a crash in between is repaired on resume). Confirmation requests
-- (evaluated_permission ask) also carry Vargate's decision and, when a
-- human was asked, the approval action (its ID is the tool use's). A call
-- to Vargate's own MCP server gets no record of its own: linked_action
-- names the governed record's action instead.
CREATE TABLE observe_tool_uses (
	session_id     TEXT NOT NULL,
	tool_use_id    TEXT NOT NULL,
	tenant_id      TEXT NOT NULL,
	thread_id      TEXT NOT NULL DEFAULT '',
	tool           TEXT NOT NULL,
	mcp_server     TEXT NOT NULL DEFAULT '',
	permission     TEXT NOT NULL DEFAULT '',
	args_digest    TEXT NOT NULL DEFAULT '',
	input_redacted TEXT NOT NULL DEFAULT '',
	anomaly        TEXT NOT NULL DEFAULT '',
	used_at        BIGINT NOT NULL,
	result_event   TEXT NOT NULL DEFAULT '',
	result_excerpt TEXT NOT NULL DEFAULT '',
	result_digest  TEXT NOT NULL DEFAULT '',
	is_error       INTEGER NOT NULL DEFAULT 0,
	result_at      BIGINT,
	decision       TEXT NOT NULL DEFAULT '',
	decision_note  TEXT NOT NULL DEFAULT '',
	action_id      TEXT NOT NULL DEFAULT '',
	confirmed_at   BIGINT,
	linked_action  TEXT NOT NULL DEFAULT '',
	audited_at     BIGINT,
	PRIMARY KEY (session_id, tool_use_id)
);
CREATE INDEX observe_tool_uses_open ON observe_tool_uses (session_id) WHERE audited_at IS NULL;
CREATE INDEX observe_tool_uses_action ON observe_tool_uses (tenant_id, action_id) WHERE action_id <> '';
