package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

//go:embed templates static
var files embed.FS

// view is what every page template gets.
type view struct {
	Title string
	// Nav names the menu entry to highlight.
	Nav    string
	Me     vargate.Principal
	Tenant string
	CSRF   string
	Flash  []flash
	// Poll is the live parts' refresh interval in milliseconds.
	Poll int64
	// Has says which services are wired in, to hide what is not.
	Has  features
	Data any
}

// features says which capabilities the dashboard can show.
type features struct {
	Approvals, Sessions, Audit, Agents, Policies, Credentials, Webhooks, Compliance, Interrupt, Upstreams bool
}

func (s *Server) features() features {
	return features{
		Approvals: s.Approvals != nil, Sessions: s.Sessions != nil, Audit: s.Audit != nil && s.Records != nil,
		Agents: s.Agents != nil, Policies: s.Policies != nil, Credentials: s.Credentials != nil,
		Webhooks: s.Webhooks != nil, Compliance: s.Compliance != nil, Interrupt: s.Interrupter != nil,
		Upstreams: s.Upstreams != nil,
	}
}

// pageTemplate is one page: the layout, the partials and the page's
// "content".
type pageTemplate struct{ t *template.Template }

// mustParsePages parses every templates/pages/*.html over the layout and
// partials. Templates are embedded, so a parse error is a build defect.
func mustParsePages(st *staticFiles) map[string]*pageTemplate {
	base := template.New("").Funcs(funcs(st))
	base = template.Must(base.ParseFS(files, "templates/*.html"))
	names, err := fs.Glob(files, "templates/pages/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*pageTemplate{"": {t: base}}
	for _, n := range names {
		t := template.Must(template.Must(base.Clone()).ParseFS(files, n))
		pages[strings.TrimSuffix(path.Base(n), ".html")] = &pageTemplate{t: t}
	}
	return pages
}

// render writes a whole page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, page, title, nav string, data any) error {
	p, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("render: no page %q", page)
	}
	v := view{Title: title, Nav: nav, Poll: s.PollInterval.Milliseconds(), Has: s.features(), Data: data}
	if c != nil {
		v.Me, v.Tenant, v.CSRF = c.P, c.Tenant, c.CSRF
		if c.sid != "" {
			v.Flash = s.flashes.take(c.sid)
		}
	}
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the browser went away; nothing to do
	return nil
}

// fragment writes one partial template, for the page script.
func (s *Server) fragment(w http.ResponseWriter, c *reqCtx, name string, data any) error {
	var buf bytes.Buffer
	v := view{Me: c.P, Tenant: c.Tenant, CSRF: c.CSRF, Has: s.features(), Data: data}
	if err := s.pages[""].t.ExecuteTemplate(&buf, name, v); err != nil {
		return fmt.Errorf("render fragment %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// errorData is the error page.
type errorData struct {
	Status    int
	Message   string
	RequestID string
}

// renderError shows err as a page (or plain text to the page script).
// Internal errors are logged and shown without detail.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, c *reqCtx, err error) {
	status := vargate.HTTPStatus(err) // the one table, shared with the JSON API
	if status >= 500 {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard request failed",
			slog.String(logKeyRoute, r.Pattern), slog.Any(logKeyError, err))
	}
	msg := userMessage(err)
	if c == nil {
		c = &reqCtx{}
	}
	if c.fragment {
		http.Error(w, msg, status)
		return
	}
	d := errorData{Status: status, Message: msg, RequestID: vargate.RequestID(r.Context())}
	if rerr := s.render(w, r, c, status, "error", http.StatusText(status), "", d); rerr != nil {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "dashboard: render error page", slog.Any(logKeyError, rerr))
		http.Error(w, msg, status)
	}
}

// staticFiles serves the embedded static files and names them with a
// content hash, so a new binary's files are never served from a stale cache.
type staticFiles struct {
	fs      fs.FS
	version map[string]string
	h       http.Handler
}

func mustStatic() *staticFiles {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	st := &staticFiles{fs: sub, version: map[string]string{}, h: http.FileServerFS(sub)}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		st.version[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		panic(err)
	}
	return st
}

func (st *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("v"); v != "" && v == st.version[r.URL.Path] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	st.h.ServeHTTP(w, r)
}

// url returns the versioned URL of a static file.
func (st *staticFiles) url(name string) string {
	return "/ui/static/" + name + "?v=" + st.version[name]
}

// funcs are the template helpers.
func funcs(st *staticFiles) template.FuncMap {
	return template.FuncMap{
		"static": st.url,
		"time":   fmtTime,
		"timep": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return fmtTime(*t)
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago": func(t time.Time) string { return ago(time.Since(t)) },
		"until": func(t time.Time) string {
			d := time.Until(t)
			if d < 0 {
				return "expired " + ago(-d)
			}
			return "in " + strings.TrimSuffix(ago(d), " ago")
		},
		"json":   prettyJSON,
		"add":    func(a, b int) int { return a + b },
		"plural": plural,
		"join":   strings.Join,
		"short":  short,
		"status": statusClass,
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd arguments")
			}
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"contains": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
	}
}

// fmtTime shows a time in UTC to the second.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago says how long ago d was, coarsely.
func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// prettyJSON indents a JSON value for display; anything else is shown as
// it is. The template escapes the result.
func prettyJSON(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// short abbreviates a long identifier or hash.
func short(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:12] + "…"
}

// statusClass is the badge colour of a status or decision word.
func statusClass(s any) string {
	word := fmt.Sprint(s)
	if i := strings.LastIndexByte(word, '.'); i >= 0 {
		word = word[i+1:] // "session.interrupted"
	}
	switch word {
	case "pending", "awaiting_approval", "require_approval", "approval", "creating", "executing", "approved", "pending_approval":
		return "badge warn"
	case "executed", "active", "allow", "allowed", "delivered", "completed", "ok", "valid", "running", "resumed", "created", "interrupt_confirmed":
		return "badge ok"
	case "failed", "rejected", "deny", "denied", "interrupted", "invalid", "invalid_arguments", "expired", "dead", "cancelled", "error", "destroyed", "deleted", "interrupt_unconfirmed":
		return "badge bad"
	}
	return "badge"
}

// plural is "1 record", "2 records".
func plural(n any, word string) string {
	s := fmt.Sprint(n)
	if s != "1" {
		word += "s"
	}
	return s + " " + word
}
