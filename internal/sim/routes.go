package sim

import "net/http"

// routes lists every endpoint the simulator serves, with the real API's
// paths. The SDK's older ?beta=true query is accepted and ignored.
func (s *Server) routes() *http.ServeMux {
	agents := kind[*agent, agentWire]{s: s, items: s.agents, find: s.agents.at("agent_id"), wire: (*agent).wireLatest}
	environments := kind[*environment, environmentWire]{
		s: s, items: s.environments, find: s.environments.at("environment_id"), wire: (*environment).wire,
		touch: (*environment).touch, remove: s.environments.remove, deleted: "environment_deleted",
	}
	vaults := kind[*vault, vaultWire]{
		s: s, items: s.vaults, find: s.vaults.at("vault_id"), wire: (*vault).wire,
		touch: (*vault).touch, remove: s.removeVault, deleted: "vault_deleted",
	}
	credentials := kind[*credential, credentialWire]{
		s: s, items: s.credentials, find: s.credentialAt, wire: (*credential).wire,
		touch: (*credential).touch, remove: s.credentials.remove, deleted: "vault_credential_deleted",
	}
	sessions := kind[*session, sessionWire]{s: s, items: s.sessions, find: s.sessions.at("session_id"), wire: s.sessionWire}

	mux := http.NewServeMux()

	mux.Handle("POST /v1/agents", handle(s.createAgent))
	mux.Handle("GET /v1/agents", handle(agents.list(createdIn)))
	mux.Handle("GET /v1/agents/{agent_id}", handle(s.getAgent))
	mux.Handle("POST /v1/agents/{agent_id}", handle(s.updateAgent))
	mux.Handle("POST /v1/agents/{agent_id}/archive", handle(agents.archive()))
	mux.Handle("GET /v1/agents/{agent_id}/versions", handle(s.listAgentVersions))

	mux.Handle("POST /v1/environments", handle(s.createEnvironment))
	mux.Handle("GET /v1/environments", handle(environments.list(nil)))
	mux.Handle("GET /v1/environments/{environment_id}", handle(environments.get()))
	mux.Handle("POST /v1/environments/{environment_id}", handle(s.updateEnvironment))
	mux.Handle("DELETE /v1/environments/{environment_id}", handle(environments.delete()))
	mux.Handle("POST /v1/environments/{environment_id}/archive", handle(environments.archive()))

	mux.Handle("POST /v1/vaults", handle(s.createVault))
	mux.Handle("GET /v1/vaults", handle(vaults.list(nil)))
	mux.Handle("GET /v1/vaults/{vault_id}", handle(vaults.get()))
	mux.Handle("POST /v1/vaults/{vault_id}", handle(s.updateVault))
	mux.Handle("DELETE /v1/vaults/{vault_id}", handle(vaults.delete()))
	mux.Handle("POST /v1/vaults/{vault_id}/archive", handle(vaults.archive()))
	mux.Handle("POST /v1/vaults/{vault_id}/credentials", handle(s.createCredential))
	mux.Handle("GET /v1/vaults/{vault_id}/credentials", handle(credentials.list(s.inPathVault)))
	mux.Handle("GET /v1/vaults/{vault_id}/credentials/{credential_id}", handle(credentials.get()))
	mux.Handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}", handle(s.updateCredential))
	mux.Handle("DELETE /v1/vaults/{vault_id}/credentials/{credential_id}", handle(credentials.delete()))
	mux.Handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive", handle(credentials.archive()))

	mux.Handle("POST /v1/sessions", handle(s.createSession))
	mux.Handle("GET /v1/sessions", handle(s.listSessions))
	mux.Handle("GET /v1/sessions/{session_id}", handle(sessions.get()))
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
	mux.Handle("GET /v1/sessions/{session_id}/resources/{resource_id}", handle(getOne(s, s.resourceAt, (*resource).wire)))
	mux.Handle("POST /v1/sessions/{session_id}/resources/{resource_id}", handle(s.updateResource))
	mux.Handle("DELETE /v1/sessions/{session_id}/resources/{resource_id}", handle(s.deleteResource))

	mux.Handle("/", handle(func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return nil, notFound("Not found: %s %s", r.Method, r.URL.Path)
	}))
	return mux
}
