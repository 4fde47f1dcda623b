package httpapi

// routes is the whole REST API in one place. Every path is also served
// under /api, and described in openapi/openapi.yaml (served at
// /openapi.json). Access: public (no credential), anyHuman (admin, approver,
// auditor), decider (admin, approver), adminOnly. The agent role reaches
// no route here: agents only call tools through the MCP server.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/health", public, s.health},
		{"GET", "/openapi.json", public, s.openapi},

		{"GET", "/tenant", anyHuman, s.getTenant},
		{"GET", "/keys", adminOnly, s.listKeys},
		{"POST", "/keys", adminOnly, s.createKey},
		{"DELETE", "/keys/{id}", adminOnly, s.revokeKey},

		{"POST", "/credentials/register", adminOnly, s.registerCredential},
		{"GET", "/credentials", anyHuman, s.listCredentials},
		{"GET", "/credentials/{id}", anyHuman, s.getCredential},
		{"DELETE", "/credentials/{id}", adminOnly, s.deleteCredential},

		{"POST", "/managed/agents", adminOnly, s.createAgent},
		{"GET", "/managed/agents", anyHuman, s.listAgents},
		{"GET", "/managed/agents/{id}", anyHuman, s.getAgent},
		{"PATCH", "/managed/agents/{id}", adminOnly, s.updateAgent},
		{"DELETE", "/managed/agents/{id}", adminOnly, s.archiveAgent},

		{"POST", "/managed/sessions", adminOnly, s.createSession},
		{"GET", "/managed/sessions", anyHuman, s.listSessions},
		{"GET", "/managed/sessions/{id}", anyHuman, s.getSession},
		{"GET", "/managed/sessions/{id}/status", anyHuman, s.sessionStatus},
		{"GET", "/managed/sessions/{id}/audit", anyHuman, s.sessionAudit},
		{"POST", "/managed/sessions/{id}/messages", adminOnly, s.sendSessionMessage},
		{"POST", "/managed/sessions/{id}/interrupt", decider, s.interruptSession},
		{"GET", "/managed/sessions/{id}/compliance", anyHuman, s.sessionCompliance},
		{"POST", "/managed/sessions/{id}/replay", anyHuman, s.replaySession},
		{"POST", "/policies/replay", anyHuman, s.replayTenant},
		{"GET", "/managed/settings", anyHuman, s.getSessionSettings},
		{"PUT", "/managed/settings", adminOnly, s.putSessionSettings},

		{"POST", "/policies", adminOnly, s.uploadPolicy},
		{"GET", "/policies", anyHuman, s.listPolicies},
		{"GET", "/policies/active", anyHuman, s.getActivePolicy},
		{"GET", "/policies/{version}", anyHuman, s.getPolicy},
		{"POST", "/policies/{version}/activate", adminOnly, s.activatePolicy},
		{"POST", "/policies/rollback", adminOnly, s.rollbackPolicy},

		{"GET", "/audit", anyHuman, s.listAudit},
		{"GET", "/audit/verify", anyHuman, s.verifyAudit},
		{"GET", "/audit/checkpoint", anyHuman, s.getAuditCheckpoint},
		{"GET", "/audit/proof/inclusion", anyHuman, s.getAuditInclusion},
		{"GET", "/audit/proof/consistency", anyHuman, s.getAuditConsistency},
		{"GET", "/audit/bundle", anyHuman, s.getAuditBundle},

		{"POST", "/tools", adminOnly, s.createTool},
		{"GET", "/tools", anyHuman, s.listTools},
		{"GET", "/tools/{name}", anyHuman, s.getTool},
		{"DELETE", "/tools/{name}", adminOnly, s.deleteTool},

		{"POST", "/mcp/upstreams", adminOnly, s.createUpstream},
		{"GET", "/mcp/upstreams", adminOnly, s.listUpstreams},
		{"GET", "/mcp/upstreams/{name}", adminOnly, s.getUpstream},
		{"PATCH", "/mcp/upstreams/{name}", adminOnly, s.updateUpstream},
		{"DELETE", "/mcp/upstreams/{name}", adminOnly, s.deleteUpstream},
		{"GET", "/mcp/upstreams/{name}/changes", adminOnly, s.upstreamChanges},
		{"POST", "/mcp/upstreams/{name}/approve", adminOnly, s.approveUpstream},

		{"GET", "/approvals", anyHuman, s.listApprovals},
		{"GET", "/approvals/{id}", anyHuman, s.getApproval},
		{"POST", "/approve/{id}", decider, s.approve},
		{"POST", "/reject/{id}", decider, s.reject},

		{"GET", "/dashboard/settings", anyHuman, s.getDashboardSettings},
		{"POST", "/dashboard/settings", adminOnly, s.updateDashboardSettings},
		{"PATCH", "/dashboard/settings", adminOnly, s.updateDashboardSettings},
		{"POST", "/webhooks/test", adminOnly, s.testWebhook},
		{"GET", "/webhooks/deliveries", anyHuman, s.listWebhookDeliveries},
		{"GET", "/webhooks/deliveries/{id}", anyHuman, s.getWebhookDelivery},
		{"POST", "/webhooks/deliveries/{id}/retry", adminOnly, s.retryWebhookDelivery},
	}
}
