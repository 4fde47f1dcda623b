package httpapi

// routes is the whole REST API in one place. Every path is also served
// under /api. Access: public (no credential), anyHuman (admin, approver,
// auditor), decider (admin, approver), adminOnly. The agent role reaches
// no route here: agents only call tools through the MCP server.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/health", public, s.health},

		{"GET", "/tenant", anyHuman, s.getTenant},
		{"GET", "/keys", adminOnly, s.listKeys},
		{"POST", "/keys", adminOnly, s.createKey},
		{"DELETE", "/keys/{id}", adminOnly, s.revokeKey},

		{"POST", "/credentials/register", adminOnly, s.registerCredential},
		{"GET", "/credentials", anyHuman, s.listCredentials},
		{"GET", "/credentials/{id}", anyHuman, s.getCredential},
		{"DELETE", "/credentials/{id}", adminOnly, s.deleteCredential},

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
	}
}
