package mcpserver

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// DefaultMaxBatch is Server.MaxBatch when zero.
const DefaultMaxBatch = 10

// batchLimit refuses a JSON-RPC batch (protocol 2025-03-26) of more than
// MaxBatch messages with a JSON-RPC error before any of it runs. It looks
// only at bodies readBody found to start with '['.
func (s *Server) batchLimit(next http.Handler) http.Handler {
	maxBatch := s.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	limit := s.bodyLimit()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := messageOf(r.Context())
		if m == nil || !m.batch {
			// Not a batch (or empty, or unreadable): the SDK answers it.
			next.ServeHTTP(w, r)
			return
		}
		if m.err != nil {
			writeRPCError(w, http.StatusBadRequest, -32700, "cannot read the request body")
			return
		}
		if m.tooLarge {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body larger than %d bytes", limit))
			return
		}
		var msgs []json.RawMessage
		if json.Unmarshal(m.body, &msgs) == nil && len(msgs) > maxBatch {
			writeRPCError(w, http.StatusBadRequest, -32600, fmt.Sprintf(
				"batch of %d messages refused: the gateway accepts at most %d per request (VARGATE_MCP_MAX_BATCH); nothing was run", len(msgs), maxBatch))
			return
		}
		next.ServeHTTP(w, r)
	})
}
