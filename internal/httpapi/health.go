package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/vargate/vargate"
)

// HealthResponse is the body of GET /health.
type HealthResponse struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Database string `json:"database"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ vargate.Principal) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	resp := HealthResponse{Status: "ok", Version: vargate.Version, Database: "ok"}
	status := http.StatusOK
	if s.Ping == nil || s.Ping(ctx) != nil {
		resp.Status, resp.Database, status = "degraded", "unreachable", http.StatusServiceUnavailable
	}
	writeJSON(w, status, resp)
	return nil
}
