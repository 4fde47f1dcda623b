package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/compliance"
)

func (s *Server) complianceService() (*compliance.Service, error) {
	if s.Compliance == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "compliance export and policy replay are not configured")
	}
	return s.Compliance, nil
}

// sessionCompliance is GET /managed/sessions/{id}/compliance: the
// session's compliance export as JSON (the default, verifiable offline
// with `vargate verify`) or, with ?format=html, as a printable report.
// The export streams, so a failure after the first byte aborts the
// response rather than ending it with an error body.
func (s *Server) sessionCompliance(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.complianceService()
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "html" {
		return vargate.Invalid("format", "must be json or html")
	}
	x, err := svc.Export(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	write := x.WriteJSON
	w.Header().Set("Content-Type", "application/json")
	if format == "html" {
		write = x.WriteHTML
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	s.stream(r, write(r.Context(), w))
	return nil
}

// ReplaySessionRequest is the body of POST /managed/sessions/{id}/replay;
// an empty body replays against the active policy.
type ReplaySessionRequest = compliance.ReplayRequest

// ReplayTenantRequest is the body of POST /policies/replay.
type ReplayTenantRequest = compliance.TenantReplayRequest

// replaySession is POST /managed/sessions/{id}/replay: the session's
// governed calls re-evaluated against the active policy, a stored version
// or a draft (never activated), and its observed calls re-scored.
func (s *Server) replaySession(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.complianceService()
	if err != nil {
		return err
	}
	var req ReplaySessionRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	rp, err := svc.ReplaySession(r.Context(), p.TenantID, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return s.writeReplay(w, r, rp.WriteJSON)
}

// replayTenant is POST /policies/replay: the tenant's records of a time
// range (the last week by default) replayed the same way, to try a policy
// on past traffic before activating it.
func (s *Server) replayTenant(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	svc, err := s.complianceService()
	if err != nil {
		return err
	}
	var req ReplayTenantRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	rp, err := svc.ReplayTenant(r.Context(), p.TenantID, req)
	if err != nil {
		return err
	}
	return s.writeReplay(w, r, rp.WriteJSON)
}

func (s *Server) writeReplay(w http.ResponseWriter, r *http.Request, write func(context.Context, io.Writer) error) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	s.stream(r, write(r.Context(), w))
	return nil
}

// stream ends a streamed response: an error after the status was sent is
// logged and the connection aborted, so the client sees a truncated body
// (invalid JSON, a failed transfer), never a complete-looking one.
func (s *Server) stream(r *http.Request, err error) {
	if err == nil {
		return
	}
	if r.Context().Err() == nil {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "streamed response failed",
			slog.String(logKeyRequestID, vargate.RequestID(r.Context())), slog.String(logKeyRoute, r.Pattern),
			slog.String(logKeyError, err.Error()))
	}
	panic(http.ErrAbortHandler)
}
