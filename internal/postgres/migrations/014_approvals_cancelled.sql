-- Approvals die with their session (issue 17): an action still waiting
-- (pending, or approved but not started) whose session ended, whose agent
-- was archived or no longer allows its tool, or whose agent key was
-- revoked is settled as cancelled, through the same compare-and-set and
-- event row as every other move. key_id is the agent key (or session
-- token) that queued the action, so that revoking a key finds its actions.
ALTER TABLE approvals DROP CONSTRAINT approvals_status_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_status_check
	CHECK (status IN ('pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired', 'cancelled'));
ALTER TABLE approvals ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
-- Cancellation looks up what is still waiting by session, agent or key.
CREATE INDEX approvals_waiting_session ON approvals (tenant_id, session_id) WHERE status IN ('pending', 'approved');
CREATE INDEX approvals_waiting_agent ON approvals (tenant_id, agent_id) WHERE status IN ('pending', 'approved');
