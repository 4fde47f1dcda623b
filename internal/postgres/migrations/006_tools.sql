-- Tenant-defined governed tools (issue 8). A tenant declares an HTTP tool
-- through POST /tools: the name, description and input JSON Schema agents
-- see in tools/list, the request template each call fills in, and a
-- reference to the credential (in the vault) the request carries. The JSON
-- documents are stored as text, exactly as validated; a definition is
-- never updated in place (delete and declare again).

CREATE TABLE tenant_tools (
	tenant_id    TEXT NOT NULL REFERENCES tenants(id),
	name         TEXT NOT NULL,
	description  TEXT NOT NULL,
	input_schema TEXT NOT NULL,
	request      TEXT NOT NULL,
	credential   TEXT,
	read_only    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at   BIGINT NOT NULL,
	created_by   TEXT NOT NULL,
	PRIMARY KEY (tenant_id, name)
);
