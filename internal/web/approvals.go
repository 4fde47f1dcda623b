package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/pii"
)

// decisionTimeout bounds an approval decision, which runs the action.
const decisionTimeout = 3 * time.Minute

// maxShownJSON bounds arguments and results shown on a page.
const maxShownJSON = 16 << 10

// queueData is the pending queue, as the page and its fragment show it.
type queueData struct {
	Pending []actionView
	// Version changes whenever the queue does; the page script replaces
	// the queue only then.
	Version string
}

// actionView is an action with its arguments as a role may see them.
type actionView struct {
	approval.Action
	// Shown is the arguments: exact for the roles that decide (admin,
	// approver), with personal data and secrets masked for the others.
	// Either way, invisible and direction-changing characters are
	// written as \uXXXX escapes.
	Shown string
	// Exact says Shown is the exact arguments.
	Exact bool
	// Hidden lists the values that held such characters, with a warning.
	Hidden []approval.HiddenText
	// ShownResult is the result, masked (detail page only).
	ShownResult string
}

// masked returns the JSON to show for an action's arguments: the redacted
// form govern recorded, or the arguments run through the PII redactor.
func masked(redacted, raw json.RawMessage) string {
	src := redacted
	if len(src) == 0 && len(raw) > 0 {
		r, err := pii.Redact(raw)
		if err != nil {
			return "(arguments hidden: they could not be masked)"
		}
		src = r
	}
	return shown(src)
}

// shown pretty-prints JSON for a page, hidden characters escaped, bounded.
func shown(src json.RawMessage) string {
	out, _ := approval.EscapeHidden(prettyJSON(src))
	if len(out) > maxShownJSON {
		cut := maxShownJSON
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "\n… (truncated)"
	}
	return out
}

// viewAction builds the view of a: a decider (exact true) sees the exact
// arguments when a carries them (Get), everyone else the masked ones.
func viewAction(a approval.Action, withResult, exact bool) actionView {
	v := actionView{Action: a}
	if exact && len(a.Args) > 0 {
		v.Shown, v.Exact, v.Hidden = shown(a.Args), true, approval.FindHidden(a.Args)
	} else {
		v.Shown = masked(a.ArgsRedacted, a.Args)
		v.Hidden = approval.FindHidden(a.ArgsRedacted)
	}
	if v.Shown == "" {
		v.Shown = "(arguments hidden: sensitive)"
	}
	if withResult && len(a.Result) > 0 {
		v.ShownResult = masked(nil, a.Result)
	}
	// The views never carry the exact arguments or result further.
	v.Args, v.Result = nil, nil
	return v
}

// exactInQueue is how many pending actions a decider's queue shows with
// their exact arguments (each needs its own read); the others are
// decided from their own page.
const exactInQueue = 25

func (s *Server) pendingQueue(r *http.Request, c *reqCtx) (queueData, error) {
	acts, err := s.Approvals.List(r.Context(), c.P.TenantID, approval.Filter{Status: approval.StatusPending, Limit: 200})
	if err != nil {
		return queueData{}, err
	}
	h := sha256.New()
	d := queueData{}
	// Oldest first: the action closest to expiry is at the top.
	decider := c.P.Role.CanDecide()
	for i := len(acts) - 1; i >= 0; i-- {
		a := acts[i]
		fmt.Fprintf(h, "%s/%s;", a.ID, a.Status)
		if decider && len(d.Pending) < exactInQueue {
			// Listings carry no arguments; a decider sees the exact ones.
			full, err := s.Approvals.Get(r.Context(), c.P.TenantID, a.ID)
			if err == nil {
				a = full
			}
		}
		d.Pending = append(d.Pending, viewAction(a, false, decider))
	}
	d.Version = hex.EncodeToString(h.Sum(nil)[:8])
	return d, nil
}

// approvalsData is the approvals page.
type approvalsData struct {
	Queue  queueData
	Recent []approval.Action
	Counts map[approval.Status]int
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Approvals == nil {
		return notConfigured("The approval queue")
	}
	q, err := s.pendingQueue(r, c)
	if err != nil {
		return err
	}
	recent, err := s.Approvals.List(r.Context(), c.P.TenantID, approval.Filter{Limit: 40})
	if err != nil {
		return err
	}
	d := approvalsData{Queue: q}
	for _, a := range recent {
		if a.Status != approval.StatusPending && len(d.Recent) < 20 {
			d.Recent = append(d.Recent, a)
		}
	}
	return s.render(w, r, c, http.StatusOK, "approvals", "Approvals", "approvals", d)
}

// approvalsQueue is the queue fragment the page polls.
func (s *Server) approvalsQueue(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Approvals == nil {
		return notConfigured("The approval queue")
	}
	q, err := s.pendingQueue(r, c)
	if err != nil {
		return err
	}
	// The overview shows the first few only.
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < len(q.Pending) {
		q.Pending = q.Pending[:n]
	}
	return s.fragment(w, c, "approval_queue", q)
}

func (s *Server) approvalPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Approvals == nil {
		return notConfigured("The approval queue")
	}
	a, err := s.Approvals.Get(r.Context(), c.P.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "approval", "Action "+a.Tool, "approvals", viewAction(a, true, c.P.Role.CanDecide()))
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	return s.decide(w, r, c, true)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	return s.decide(w, r, c, false)
}

// decide approves or rejects, then returns to the page the form was on.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, c *reqCtx, approve bool) error {
	if s.Approvals == nil {
		return notConfigured("The approval queue")
	}
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	back := "/ui/approvals"
	if r.PostFormValue("from") == "detail" {
		back = "/ui/approvals/" + id
	}
	// The decision runs the action; it completes even if the browser
	// goes away.
	ctx, cancel := detached(r.Context(), decisionTimeout)
	defer cancel()
	var a approval.Action
	var err error
	if approve {
		a, err = s.Approvals.Approve(ctx, c.P, id, reason)
	} else {
		if reason == "" {
			s.flashError(c, "Give a reason for the rejection; the agent is told it.")
			return redirect(w, r, back)
		}
		a, err = s.Approvals.Reject(ctx, c.P, id, reason)
	}
	if err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Not decided: "+userMessage(err))
		return redirect(w, r, back)
	}
	switch {
	case !approve:
		s.flashOK(c, fmt.Sprintf("Rejected %s (%s).", a.Tool, a.ID))
	case a.Status == approval.StatusExecuted:
		s.flashOK(c, fmt.Sprintf("Approved %s (%s); it ran.", a.Tool, a.ID))
	case a.Failure != nil:
		s.flashError(c, fmt.Sprintf("Approved %s (%s), but it did not run: %s", a.Tool, a.ID, a.Failure.Message))
	default:
		s.flashOK(c, fmt.Sprintf("Approved %s (%s); status %s.", a.Tool, a.ID, a.Status))
	}
	return redirect(w, r, back)
}
