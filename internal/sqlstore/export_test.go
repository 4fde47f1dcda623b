package sqlstore

// AuditListQuery exposes List's query to the plan test.
var AuditListQuery = auditListQuery

// ReasonsJSON exposes the reasons column's encoding.
var ReasonsJSON = reasonsJSON
