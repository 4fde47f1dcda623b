package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vargate/vargate/internal/upstream"
)

// Upstreams is the tenant's upstream MCP servers; *upstream.Service
// implements it.
type Upstreams interface {
	List(ctx context.Context, tenantID string) ([]upstream.View, error)
	Changes(ctx context.Context, tenantID, name string) ([]upstream.Change, error)
	Approve(ctx context.Context, tenantID, actor, name string, want map[string]string) ([]upstream.Change, error)
}

// upstreamData is the review page of one upstream.
type upstreamData struct {
	Name    string
	Changes []changeView
}

type changeView struct {
	upstream.Change
	PinnedText, CurrentText string
}

func indentJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

func (s *Server) upstreamsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Upstreams == nil {
		return notConfigured("Upstream MCP servers")
	}
	vs, err := s.Upstreams.List(r.Context(), c.P.TenantID)
	if err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "upstreams", "Upstreams", "settings", vs)
}

func (s *Server) upstreamPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Upstreams == nil {
		return notConfigured("Upstream MCP servers")
	}
	name := r.PathValue("name")
	cs, err := s.Upstreams.Changes(r.Context(), c.P.TenantID, name)
	if err != nil {
		return err
	}
	d := upstreamData{Name: name}
	for _, ch := range cs {
		d.Changes = append(d.Changes, changeView{Change: ch, PinnedText: indentJSON(ch.Pinned), CurrentText: indentJSON(ch.Current)})
	}
	return s.render(w, r, c, http.StatusOK, "upstream", "Upstreams", "settings", d)
}

// approveUpstream pins exactly the digests the page showed: a change made
// since is refused (and shown again).
func (s *Server) approveUpstream(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Upstreams == nil {
		return notConfigured("Upstream MCP servers")
	}
	name := r.PathValue("name")
	if err := r.ParseForm(); err != nil {
		return err
	}
	want := map[string]string{}
	for _, v := range r.PostForm["approve"] {
		tool, digest, ok := strings.Cut(v, "=")
		if ok {
			want[tool] = digest
		}
	}
	back := "/ui/settings/upstreams/" + name
	if len(want) == 0 {
		s.flashError(c, "Nothing selected to approve.")
		return redirect(w, r, back)
	}
	done, err := s.Upstreams.Approve(r.Context(), c.P.TenantID, c.P.KeyID, name, want)
	if err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Not approved: "+userMessage(err))
		return redirect(w, r, back)
	}
	s.flashOK(c, "Approved "+plural(len(done), "change")+"; the tools are served again.")
	return redirect(w, r, back)
}
