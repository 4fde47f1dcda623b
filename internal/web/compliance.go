package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/policy"
)

// Compliance exports a session's evidence and replays its decisions;
// *compliance.Service implements it.
type Compliance interface {
	Export(ctx context.Context, tenantID, sessionID string) (*compliance.Export, error)
	ReplaySession(ctx context.Context, tenantID, sessionID string, req compliance.ReplayRequest) (*compliance.Replay, error)
}

const (
	// maxReplayBytes bounds the replay report a page reads.
	maxReplayBytes = 8 << 20
	// replayRowsShown bounds the changed decisions a page lists.
	replayRowsShown = 100
)

// replayActive is the version choice that replays against the active
// policy.
const replayActive = "active"

// exportSession downloads the session's compliance export: JSON (offline
// evidence, `vargate verify`) or a printable HTML report. It streams, so a
// failure after the first byte aborts the download instead of ending it
// with a page.
func (s *Server) exportSession(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Compliance == nil {
		return notConfigured("Compliance export")
	}
	id := r.PathValue("id")
	format := r.URL.Query().Get("format")
	if format != "json" && format != "html" {
		return vargate.Invalid("format", "must be json or html")
	}
	x, err := s.Compliance.Export(r.Context(), c.P.TenantID, id)
	if err != nil {
		return err
	}
	write := x.WriteJSON
	w.Header().Set("Content-Type", "application/json")
	if format == "html" {
		write = x.WriteHTML
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The report styles itself inline; it runs no script.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	// Always a download: the report is not rendered inside the dashboard.
	w.Header().Set("Content-Disposition", `attachment; filename="vargate-`+safeName(id)+`-compliance.`+format+`"`)
	w.WriteHeader(http.StatusOK)
	if err := write(r.Context(), w); err != nil {
		if r.Context().Err() == nil {
			s.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard: compliance export failed",
				slog.String(logKeyTenant, c.P.TenantID), slog.Any(logKeyError, err))
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// safeName keeps the characters of an ID that are safe in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

// replayVersions lists what a session may be replayed against: the active
// policy, the base policy and every stored version.
func (s *Server) replayVersions(r *http.Request, c *reqCtx) ([]string, error) {
	out := []string{replayActive, policy.BaseLabel}
	if s.Policies == nil {
		return out, nil
	}
	vs, err := s.Policies.Versions(r.Context(), c.P.TenantID)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		out = append(out, v.Label)
	}
	return out, nil
}

// replayView is a replay's report as the session page shows it.
type replayView struct {
	compliance.ReplayReport
	// Choice is the version the form asked for.
	Choice string
	// More counts changed decisions not listed.
	More int
}

// replaySession runs a replay and shows the session page with its result.
// It changes nothing, so every role may run it.
func (s *Server) replaySession(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Compliance == nil || s.Sessions == nil {
		return notConfigured("Policy replay")
	}
	id := r.PathValue("id")
	choice := strings.TrimSpace(r.PostFormValue("version"))
	req := compliance.ReplayRequest{}
	if choice != "" && choice != replayActive {
		req.PolicyVersion = choice
	}
	rv, err := s.runReplay(r.Context(), c.P.TenantID, id, req)
	if err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Replay failed: "+userMessage(err))
		return redirect(w, r, "/ui/sessions/"+id)
	}
	rv.Choice = choice
	d, err := s.sessionData(r, c, id)
	if err != nil {
		return err
	}
	d.Replay = rv
	return s.render(w, r, c, http.StatusOK, "session", "Session "+id, "sessions", d)
}

func (s *Server) runReplay(ctx context.Context, tenantID, id string, req compliance.ReplayRequest) (*replayView, error) {
	rp, err := s.Compliance.ReplaySession(ctx, tenantID, id, req)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := rp.WriteJSON(ctx, &limitedWriter{w: &buf, n: maxReplayBytes}); err != nil {
		return nil, fmt.Errorf("run replay: %w", err)
	}
	rv := &replayView{}
	if err := json.Unmarshal(buf.Bytes(), &rv.ReplayReport); err != nil {
		return nil, fmt.Errorf("read replay report: %w", err)
	}
	if n := len(rv.Changes); n > replayRowsShown {
		rv.More = n - replayRowsShown
		rv.Changes = rv.Changes[:replayRowsShown]
	}
	return rv, nil
}

// limitedWriter fails once more than n bytes were written.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, vargate.Errorf(vargate.KindInvalid, "the replay report is larger than %d MiB; use the API (POST /managed/sessions/{id}/replay)", l.n>>20)
	}
	return l.w.Write(p)
}
