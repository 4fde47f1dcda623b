-- The outcome of a governed call as a first-class audit field (issue 17):
-- executed, failed, denied, pending_approval, invalid_arguments,
-- cancelled, or executing on the record written before the connector
-- runs. Empty on every other record; records with an outcome are hashed in
-- encoding layout v2 (docs/AUDIT.md).

ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
