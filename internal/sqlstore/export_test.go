package sqlstore

// AuditListQuery exposes List's query to the plan test.
var AuditListQuery = auditListQuery
