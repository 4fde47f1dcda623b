-- Tenant policy versions (issue 5). Every uploaded version is kept
-- forever, so any past decision can be replayed against the version that
-- made it: policy_versions and policy_activations refuse UPDATE, DELETE
-- and TRUNCATE. policy_heads holds one row per tenant, the active-version
-- pointer: how many versions and activations the tenant has and which
-- activation is in effect (NULL: the base policy alone). Uploads and
-- activations lock it FOR UPDATE, so sequence numbers and v<N> labels are
-- assigned one at a time across gateways. See docs/POLICY.md.

CREATE TABLE policy_heads (
	tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
	versions    BIGINT NOT NULL DEFAULT 0,
	activations BIGINT NOT NULL DEFAULT 0,
	active_seq  BIGINT
);

-- modules is a JSON object: file name → Rego source, as uploaded.
CREATE TABLE policy_versions (
	tenant_id  TEXT NOT NULL REFERENCES tenants(id),
	seq        BIGINT NOT NULL,
	label      TEXT NOT NULL,
	modules    TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, seq),
	UNIQUE (tenant_id, label)
);

-- One row per change of the active version. previous_label is the version
-- that was active just before ('' for the base policy). rollback_to is
-- the activation whose state a rollback of this one restores (NULL: none,
-- the base policy was in effect): for a plain activation, the one it
-- replaced; for a rollback, that of the activation it went back to, so
-- repeated rollbacks keep walking back.
CREATE TABLE policy_activations (
	tenant_id      TEXT NOT NULL,
	seq            BIGINT NOT NULL,
	label          TEXT NOT NULL,
	previous_label TEXT NOT NULL DEFAULT '',
	rollback       INTEGER NOT NULL DEFAULT 0,
	rollback_to    BIGINT,
	activated_at   BIGINT NOT NULL,
	activated_by   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, seq),
	FOREIGN KEY (tenant_id, label) REFERENCES policy_versions (tenant_id, label)
);

CREATE FUNCTION policy_kept_forever() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% are kept forever', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER policy_versions_kept BEFORE UPDATE OR DELETE ON policy_versions
	FOR EACH ROW EXECUTE FUNCTION policy_kept_forever();
CREATE TRIGGER policy_versions_no_truncate BEFORE TRUNCATE ON policy_versions
	FOR EACH STATEMENT EXECUTE FUNCTION policy_kept_forever();
CREATE TRIGGER policy_activations_kept BEFORE UPDATE OR DELETE ON policy_activations
	FOR EACH ROW EXECUTE FUNCTION policy_kept_forever();
CREATE TRIGGER policy_activations_no_truncate BEFORE TRUNCATE ON policy_activations
	FOR EACH STATEMENT EXECUTE FUNCTION policy_kept_forever();
