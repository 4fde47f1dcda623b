-- Dashboard sign-in sessions (issue 13), in the database so that gateways
-- behind one load balancer share them and a restart keeps them. The ID is
-- the SHA-256 of the browser's cookie and key_hash the API key's, so the
-- table holds nothing a cookie or a key could be rebuilt from; each request
-- checks the key again (a revoked key ends the session).
CREATE TABLE ui_signins (
	id          TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL REFERENCES tenants(id),
	tenant_name TEXT NOT NULL,
	key_id      TEXT NOT NULL,
	role        TEXT NOT NULL,
	key_hash    BLOB NOT NULL,
	csrf        TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	last_seen   BIGINT NOT NULL
);
CREATE INDEX ui_signins_last_seen ON ui_signins (last_seen);
CREATE INDEX ui_signins_created ON ui_signins (created_at);
