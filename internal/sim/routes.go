package sim

import "net/http"

// routes lists every endpoint the simulator serves, with the real API's
// paths. The SDK's older ?beta=true query is accepted and ignored.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()

	mux.Handle("POST /v1/agents", handle(s.createAgent))
	mux.Handle("GET /v1/agents", handle(s.listAgents))
	mux.Handle("GET /v1/agents/{agent_id}", handle(s.getAgent))
	mux.Handle("POST /v1/agents/{agent_id}", handle(s.updateAgent))
	mux.Handle("POST /v1/agents/{agent_id}/archive", handle(s.archiveAgent))
	mux.Handle("GET /v1/agents/{agent_id}/versions", handle(s.listAgentVersions))

	mux.Handle("POST /v1/environments", handle(s.createEnvironment))
	mux.Handle("GET /v1/environments", handle(s.listEnvironments))
	mux.Handle("GET /v1/environments/{environment_id}", handle(s.getEnvironment))
	mux.Handle("POST /v1/environments/{environment_id}", handle(s.updateEnvironment))
	mux.Handle("DELETE /v1/environments/{environment_id}", handle(s.deleteEnvironment))
	mux.Handle("POST /v1/environments/{environment_id}/archive", handle(s.archiveEnvironment))

	mux.Handle("POST /v1/vaults", handle(s.createVault))
	mux.Handle("GET /v1/vaults", handle(s.listVaults))
	mux.Handle("GET /v1/vaults/{vault_id}", handle(s.getVault))
	mux.Handle("POST /v1/vaults/{vault_id}", handle(s.updateVault))
	mux.Handle("DELETE /v1/vaults/{vault_id}", handle(s.deleteVault))
	mux.Handle("POST /v1/vaults/{vault_id}/archive", handle(s.archiveVault))
	mux.Handle("POST /v1/vaults/{vault_id}/credentials", handle(s.createCredential))
	mux.Handle("GET /v1/vaults/{vault_id}/credentials", handle(s.listCredentials))
	mux.Handle("GET /v1/vaults/{vault_id}/credentials/{credential_id}", handle(s.getCredential))
	mux.Handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}", handle(s.updateCredential))
	mux.Handle("DELETE /v1/vaults/{vault_id}/credentials/{credential_id}", handle(s.deleteCredential))
	mux.Handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive", handle(s.archiveCredential))

	mux.Handle("POST /v1/sessions", handle(s.createSession))
	mux.Handle("GET /v1/sessions", handle(s.listSessions))
	mux.Handle("GET /v1/sessions/{session_id}", handle(s.getSession))
	mux.Handle("POST /v1/sessions/{session_id}", handle(s.updateSession))
	mux.Handle("DELETE /v1/sessions/{session_id}", handle(s.deleteSession))
	mux.Handle("POST /v1/sessions/{session_id}/archive", handle(s.archiveSession))

	mux.Handle("POST /v1/sessions/{session_id}/events", handle(s.sendEvents))
	mux.Handle("GET /v1/sessions/{session_id}/events", handle(s.listEvents))
	mux.HandleFunc("GET /v1/sessions/{session_id}/events/stream", s.streamEvents)
	mux.Handle("GET /v1/sessions/{session_id}/threads", handle(s.listThreads))
	mux.Handle("GET /v1/sessions/{session_id}/threads/{thread_id}", handle(s.getThread))
	mux.Handle("POST /v1/sessions/{session_id}/threads/{thread_id}/archive", handle(s.archiveThread))
	mux.Handle("GET /v1/sessions/{session_id}/threads/{thread_id}/events", handle(s.listEvents))
	mux.HandleFunc("GET /v1/sessions/{session_id}/threads/{thread_id}/stream", s.streamEvents)

	mux.Handle("GET /v1/sessions/{session_id}/resources", handle(s.listResources))
	mux.Handle("POST /v1/sessions/{session_id}/resources", handle(s.addResource))
	mux.Handle("GET /v1/sessions/{session_id}/resources/{resource_id}", handle(s.getResource))
	mux.Handle("POST /v1/sessions/{session_id}/resources/{resource_id}", handle(s.updateResource))
	mux.Handle("DELETE /v1/sessions/{session_id}/resources/{resource_id}", handle(s.deleteResource))

	mux.Handle("/", handle(func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return nil, notFound("Not found: %s %s", r.Method, r.URL.Path)
	}))
	return mux
}
