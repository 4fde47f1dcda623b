package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/policy"
)

// Compliance exports a session's evidence and replays its decisions.
type Compliance interface {
	// Export returns the session's compliance export in format "json" or
	// "html", with its content type.
	Export(ctx context.Context, tenantID, sessionID, format string) (body []byte, contentType string, err error)
	// Replay re-evaluates the session's recorded decisions against a
	// policy version (policy.BaseLabel for the built-in policy).
	Replay(ctx context.Context, tenantID, sessionID, label string) (ReplayResult, error)
}

// ReplayResult is a replay's outcome as the session page shows it.
type ReplayResult struct {
	Label   string
	Total   int
	Changed int
	Rows    []ReplayRow
}

// ReplayRow is one replayed decision.
type ReplayRow struct {
	Seq      int64
	Tool     string
	Recorded string
	Replayed string
	Reasons  []string
	Changed  bool
}

func (s *Server) exportSession(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Compliance == nil {
		return notConfigured("Compliance export")
	}
	id := r.PathValue("id")
	format := r.URL.Query().Get("format")
	if format != "json" && format != "html" {
		return vargate.Invalid("format", "must be json or html")
	}
	body, ctype, err := s.Compliance.Export(r.Context(), c.P.TenantID, id, format)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	// Always a download: the HTML export is not rendered inside the
	// dashboard's origin.
	w.Header().Set("Content-Disposition", `attachment; filename="vargate-`+safeName(id)+`-compliance.`+format+`"`)
	_, _ = w.Write(body) // the browser went away; nothing to do
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

// replayVersions lists the versions a session may be replayed against.
func (s *Server) replayVersions(r *http.Request, c *reqCtx) ([]string, error) {
	if s.Policies == nil {
		return []string{policy.BaseLabel}, nil
	}
	vs, err := s.Policies.Versions(r.Context(), c.P.TenantID)
	if err != nil {
		return nil, err
	}
	out := []string{policy.BaseLabel}
	for _, v := range vs {
		out = append(out, v.Label)
	}
	return out, nil
}

// replaySession runs a replay and shows the session page with its result.
// It changes nothing, so every role may run it.
func (s *Server) replaySession(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Compliance == nil || s.Sessions == nil {
		return notConfigured("Policy replay")
	}
	id := r.PathValue("id")
	label := strings.TrimSpace(r.PostFormValue("version"))
	if label == "" {
		label = policy.BaseLabel
	}
	res, err := s.Compliance.Replay(r.Context(), c.P.TenantID, id, label)
	if err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Replay failed: "+userMessage(err))
		return redirect(w, r, "/ui/sessions/"+id)
	}
	st, err := s.status(r, c, id)
	if err != nil {
		return err
	}
	tl, err := s.timeline(r, c, id, 0)
	if err != nil {
		return err
	}
	d := sessionData{Status: st, Timeline: tl, Replay: &res}
	if d.Versions, err = s.replayVersions(r, c); err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "session", "Session "+id, "sessions", d)
}
