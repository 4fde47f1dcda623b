-- Upstream MCP servers (issue 24). A tenant puts its own MCP servers
-- behind the gateway: config is the validated JSON of the upstream (URL or
-- stdio command, the vault reference of its credential — never a secret —
-- and timeouts). Each tool an admin approved is pinned by the digest of
-- its canonical definition (name, title, description, schemas,
-- annotations); a tool the upstream serves with another definition is
-- withheld until an admin approves it.

CREATE TABLE mcp_upstreams (
	tenant_id  TEXT NOT NULL REFERENCES tenants(id),
	name       TEXT NOT NULL,
	config     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, name)
);

CREATE TABLE mcp_upstream_pins (
	tenant_id   TEXT NOT NULL,
	upstream    TEXT NOT NULL,
	tool        TEXT NOT NULL,
	digest      TEXT NOT NULL,
	definition  TEXT NOT NULL,
	approved_at BIGINT NOT NULL,
	approved_by TEXT NOT NULL,
	PRIMARY KEY (tenant_id, upstream, tool),
	FOREIGN KEY (tenant_id, upstream) REFERENCES mcp_upstreams(tenant_id, name) ON DELETE CASCADE
);
