-- Session budgets that hold (issue 17): the counters a policy reads as
-- input.session.calls and .denials. A governed call reserves its place
-- with one conditional upsert before it is decided (calls = calls + 1
-- ... RETURNING), so a batch, concurrent requests and several gateways on
-- one database all see distinct counts, and a cap of N lets at most N
-- through. Denials are added when decided. Sessions that already have
-- governed records start from the audit trail's count.
CREATE TABLE session_call_counters (
	tenant_id  TEXT NOT NULL,
	session_id TEXT NOT NULL,
	calls      BIGINT NOT NULL DEFAULT 0,
	denials    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, session_id)
);
INSERT INTO session_call_counters (tenant_id, session_id, calls, denials)
	SELECT tenant_id, session_id, COUNT(*), SUM(CASE WHEN decision = 'deny' THEN 1 ELSE 0 END)
	FROM audit_log WHERE source = 'mcp_governed' AND session_id <> ''
	GROUP BY tenant_id, session_id;
