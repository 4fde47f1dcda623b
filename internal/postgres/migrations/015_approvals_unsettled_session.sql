-- A session's status counts its actions not settled yet (pending and not
-- expired, approved, executing) with one COUNT(*) (issue 23); this index
-- answers it from the index alone.
CREATE INDEX approvals_unsettled_session ON approvals (tenant_id, session_id, status, expires_at)
	WHERE status IN ('pending', 'approved', 'executing');
