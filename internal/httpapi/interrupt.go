package httpapi

import (
	"net/http"
	"time"

	"github.com/vargate/vargate"
)

// InterruptRequest is the body of POST /managed/sessions/{id}/interrupt.
type InterruptRequest struct {
	// Reason says why; it is recorded with the interrupting key's ID.
	Reason string `json:"reason"`
}

// InterruptResponse is the outcome of an interrupt. Confirmed is true once
// the session's event stream showed it idle after the interrupt; false
// means Anthropic did not confirm within the retries (the session is
// interrupted at the gateway either way: its MCP token no longer works).
type InterruptResponse struct {
	SessionID     string    `json:"session_id"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason"`
	InterruptedBy string    `json:"interrupted_by"`
	Confirmed     bool      `json:"confirmed"`
	EndedAt       time.Time `json:"ended_at"`
}

// interruptSession serves POST /managed/sessions/{id}/interrupt: 409 when
// the session is not running.
func (s *Server) interruptSession(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	if s.Observe == nil {
		return vargate.Errorf(vargate.KindUnavailable, "session interrupts are not configured")
	}
	var req InterruptRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	res, err := s.Observe.Interrupt(r.Context(), p, r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, InterruptResponse{
		SessionID: res.SessionID, Status: res.Status, Reason: res.Reason,
		InterruptedBy: res.InterruptedBy, Confirmed: res.Confirmed, EndedAt: res.EndedAt,
	})
	return nil
}
