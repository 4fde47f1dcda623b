-- Signed webhooks (issue 9). One endpoint per tenant; its signing secret
-- is stored only sealed with the tenant's data key. Events wait in a
-- durable outbox (webhook_messages) until delivered; each try is logged in
-- webhook_attempts. A worker claims due messages by pushing next_attempt_at
-- forward by a lease (FOR UPDATE SKIP LOCKED on PostgreSQL; the single
-- writer on SQLite), so a worker that dies mid-delivery only delays the
-- message: at-least-once delivery.
CREATE TABLE webhook_settings (
	tenant_id     TEXT PRIMARY KEY REFERENCES tenants(id),
	url           TEXT NOT NULL,
	secret_sealed BYTEA NOT NULL,
	events        TEXT NOT NULL DEFAULT '[]',
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);

CREATE TABLE webhook_messages (
	id               TEXT PRIMARY KEY,
	tenant_id        TEXT NOT NULL REFERENCES tenants(id),
	event            TEXT NOT NULL,
	payload          BYTEA NOT NULL,
	status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	created_at       BIGINT NOT NULL,
	next_attempt_at  BIGINT NOT NULL,
	give_up_at       BIGINT NOT NULL,
	last_attempt_at  BIGINT,
	last_status_code INTEGER NOT NULL DEFAULT 0,
	last_error       TEXT NOT NULL DEFAULT '',
	finished_at      BIGINT
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_tenant ON webhook_messages (tenant_id, created_at);

CREATE TABLE webhook_attempts (
	message_id  TEXT NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
	attempt     INTEGER NOT NULL,
	tenant_id   TEXT NOT NULL,
	at          BIGINT NOT NULL,
	url         TEXT NOT NULL,
	status_code INTEGER NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT '',
	duration_us BIGINT NOT NULL,
	PRIMARY KEY (message_id, attempt)
);
