package mcpserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxBatch is Server.MaxBatch when zero.
const DefaultMaxBatch = 10

// batchLimit refuses a JSON-RPC batch (protocol 2025-03-26) of more than
// MaxBatch messages with a JSON-RPC error before any of it runs. A single
// message passes without being read here: only a body whose first
// non-blank byte is '[' is read whole and counted.
func (s *Server) batchLimit(next http.Handler) http.Handler {
	maxBatch := s.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	limit := s.bodyLimit()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		br := bufio.NewReader(r.Body)
		first, err := firstNonBlank(br)
		if err != nil || first != '[' {
			// Not a batch (or empty, or unreadable): the SDK answers it.
			r.Body = readCloser{br, r.Body}
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(br, limit+1))
		if err != nil {
			writeRPCError(w, http.StatusBadRequest, -32700, "cannot read the request body")
			return
		}
		if int64(len(body)) > limit {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body larger than %d bytes", limit))
			return
		}
		var msgs []json.RawMessage
		if json.Unmarshal(body, &msgs) == nil && len(msgs) > maxBatch {
			writeRPCError(w, http.StatusBadRequest, -32600, fmt.Sprintf(
				"batch of %d messages refused: the gateway accepts at most %d per request (VARGATE_MCP_MAX_BATCH); nothing was run", len(msgs), maxBatch))
			return
		}
		r.Body = readCloser{bytes.NewReader(body), r.Body}
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// firstNonBlank returns the first byte of br that is not JSON whitespace,
// leaving it unread.
func firstNonBlank(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}
