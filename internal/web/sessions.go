package web

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
)

const (
	// sessionsPerPage is the length of the sessions list.
	sessionsPerPage = 50
	// timelineMax bounds the records a session page loads at first; the
	// page script then fetches only newer ones.
	timelineMax = 2000
	// interruptTimeout bounds an interrupt, which waits for the session
	// to go idle.
	interruptTimeout = 2 * time.Minute
)

// sessionRow is a session with its counters.
type sessionRow struct {
	session.Session
	Counters  session.Counters
	AgentName string
}

// sessionsData is the sessions list.
type sessionsData struct {
	Rows     []sessionRow
	Status   string
	Statuses []string
	// Next is the cursor of the next page ("" on the last).
	Next string
}

var sessionStatuses = []string{"active", "awaiting_approval", "completed", "interrupted", "expired", "failed", "creating"}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Sessions == nil {
		return notConfigured("Managed sessions")
	}
	q := r.URL.Query()
	f := session.Filter{Limit: sessionsPerPage, AgentID: q.Get("agent")}
	if st := q.Get("status"); st != "" {
		f.Status = session.Status(st)
		if !f.Status.Valid() {
			return vargate.Invalid("status", "unknown session status %q", st)
		}
	}
	if cur := q.Get("before"); cur != "" {
		t, id, ok := strings.Cut(cur, "~")
		us, err := strconv.ParseInt(t, 10, 64)
		if !ok || err != nil {
			return vargate.Invalid("before", "is not a cursor this page made")
		}
		f.Before, f.BeforeID = time.UnixMicro(us).UTC(), id
	}
	list, err := s.Sessions.List(r.Context(), c.P.TenantID, f)
	if err != nil {
		return err
	}
	d := sessionsData{Status: q.Get("status"), Statuses: sessionStatuses}
	names := s.agentNames(r, c)
	for _, se := range list {
		_, counters, err := s.Sessions.Status(r.Context(), c.P.TenantID, se.ID)
		if err != nil {
			return err
		}
		d.Rows = append(d.Rows, sessionRow{Session: se, Counters: counters, AgentName: names(se.AgentID)})
	}
	if len(list) == sessionsPerPage {
		last := list[len(list)-1]
		d.Next = strconv.FormatInt(last.CreatedAt.UnixMicro(), 10) + "~" + last.ID
	}
	return s.render(w, r, c, http.StatusOK, "sessions", "Sessions", "sessions", d)
}

// agentNames returns a lookup of agent names that asks the agent service
// at most once per agent.
func (s *Server) agentNames(r *http.Request, c *reqCtx) func(id string) string {
	seen := map[string]string{}
	return func(id string) string {
		if s.Agents == nil || id == "" {
			return ""
		}
		if n, ok := seen[id]; ok {
			return n
		}
		cfg, err := s.Agents.Get(r.Context(), c.P.TenantID, id)
		if err != nil {
			cfg.Name = ""
		}
		seen[id] = cfg.Name
		return cfg.Name
	}
}

// sessionData is a session page.
type sessionData struct {
	Status   statusData
	Timeline timelineData
	// Versions are the policy versions a replay may run against.
	Versions []string
	Replay   *replayView
}

// statusData is the session's status cards (a polled fragment).
type statusData struct {
	session.Session
	Counters  session.Counters
	AgentName string
}

// timelineData is a run of timeline entries, newest first.
type timelineData struct {
	SessionID string
	Events    []event
	// After is the seq of the newest record shown; the page script asks
	// for records after it.
	After int64
	// Truncated says the session has more records than the page loaded.
	Truncated bool
}

// event is one audit record of a session, as the timeline shows it.
type event struct {
	Seq       int64
	Time      time.Time
	SessionID string
	Source    string
	Label     string
	Tool      string
	Decision  string
	// Outcome is how a governed call ended (executed, failed, …); shown
	// in place of the decision, which a failed call would show as allow.
	Outcome  string
	Reasons  []string
	ActionID string
	Actor    string
	// EventTime is the time of the session event the record is about
	// (an observed call's processed_at), when it has one; Time is the
	// record's.
	EventTime time.Time
	Args      string
	Detail    string
	Anomaly   *anomalyView
	// Queued says the record is about an action in the approval queue
	// (so its action has a page).
	Queued bool
}

// anomalyView is the anomaly object of an observed call's record.
type anomalyView struct {
	Flags []struct {
		Category    string `json:"category"`
		Severity    string `json:"severity"`
		Explanation string `json:"explanation"`
	} `json:"flags"`
	Severity     string  `json:"severity"`
	Score        float64 `json:"score"`
	Flagged      bool    `json:"flagged"`
	SessionScore float64 `json:"session_score"`
	Threshold    float64 `json:"threshold"`
}

var sourceLabels = map[audit.Source]string{
	audit.SourceMCPGoverned:  "Governed call",
	audit.SourceMCPObserved:  "Observed call",
	audit.SourceControlPlane: "Control plane",
	audit.SourceApproval:     "Approval",
	audit.SourceCredential:   "Credential",
	audit.SourceSession:      "Session",
	audit.SourceMCPOutcome:   "Call outcome",
}

func viewEvent(rec audit.Record) event {
	e := event{
		Seq: rec.Seq, Time: rec.Time, SessionID: rec.SessionID, Source: string(rec.Source), Label: sourceLabels[rec.Source], Tool: rec.Tool,
		Decision: rec.Decision, Outcome: string(rec.Outcome), Reasons: rec.Reasons, ActionID: rec.ActionID, Actor: rec.Actor,
	}
	if e.Label == "" {
		e.Label = string(rec.Source)
	}
	e.Queued = rec.Source == audit.SourceApproval || rec.Decision == "require_approval"
	if len(rec.ArgsRedacted) > 0 {
		e.Args = masked(rec.ArgsRedacted, nil)
	}
	if len(rec.Detail) > 0 {
		e.Detail = masked(rec.Detail, nil)
		var d struct {
			ProcessedAt time.Time `json:"processed_at"`
			UsedAt      time.Time `json:"used_at"`
		}
		if json.Unmarshal(rec.Detail, &d) == nil {
			e.EventTime = d.ProcessedAt
			if e.EventTime.IsZero() {
				e.EventTime = d.UsedAt // records written before processed_at was
			}
		}
	}
	if len(rec.Anomaly) > 0 {
		var a anomalyView
		if json.Unmarshal(rec.Anomaly, &a) == nil && (a.Flagged || len(a.Flags) > 0) {
			a.Score, a.SessionScore, a.Threshold = round2(a.Score), round2(a.SessionScore), round2(a.Threshold)
			e.Anomaly = &a
		}
	}
	return e
}

// round2 rounds a score for display (2.9, not 2.8999).
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// timeline reads the session's records after seq after, newest first.
func (s *Server) timeline(r *http.Request, c *reqCtx, id string, after int64) (timelineData, error) {
	d := timelineData{SessionID: id, After: after}
	for len(d.Events) < timelineMax {
		recs, err := s.Sessions.AuditTrail(r.Context(), c.P.TenantID, id, d.After, session.MaxListLimit)
		if err != nil {
			return d, err
		}
		for _, rec := range recs {
			d.Events = append(d.Events, viewEvent(rec))
			d.After = rec.Seq
		}
		if len(recs) < session.MaxListLimit {
			break
		}
	}
	d.Truncated = len(d.Events) >= timelineMax
	settleOutcomes(d.Events)
	for i, j := 0, len(d.Events)-1; i < j; i, j = i+1, j-1 {
		d.Events[i], d.Events[j] = d.Events[j], d.Events[i]
	}
	return d, nil
}

// settleOutcomes shows an allowed call's final outcome (its mcp_outcome
// record, when loaded with it) on its governed record, which was written
// "executing" before the connector ran.
func settleOutcomes(evs []event) {
	final := map[string]string{}
	for _, e := range evs {
		if e.Source == string(audit.SourceMCPOutcome) && e.ActionID != "" {
			final[e.ActionID] = e.Outcome
		}
	}
	for i := range evs {
		e := &evs[i]
		if o, ok := final[e.ActionID]; ok && e.Source == string(audit.SourceMCPGoverned) && e.Outcome == string(audit.OutcomeExecuting) {
			e.Outcome = o
		}
	}
}

func (s *Server) status(r *http.Request, c *reqCtx, id string) (statusData, error) {
	se, counters, err := s.Sessions.Status(r.Context(), c.P.TenantID, id)
	if err != nil {
		return statusData{}, err
	}
	return statusData{Session: se, Counters: counters, AgentName: s.agentNames(r, c)(se.AgentID)}, nil
}

func (s *Server) sessionPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Sessions == nil {
		return notConfigured("Managed sessions")
	}
	id := r.PathValue("id")
	d, err := s.sessionData(r, c, id)
	if err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "session", "Session "+id, "sessions", d)
}

// sessionData is everything a session page shows but a replay.
func (s *Server) sessionData(r *http.Request, c *reqCtx, id string) (sessionData, error) {
	var d sessionData
	var err error
	if d.Status, err = s.status(r, c, id); err != nil {
		return d, err
	}
	if d.Timeline, err = s.timeline(r, c, id, 0); err != nil {
		return d, err
	}
	if s.Compliance != nil {
		d.Versions, err = s.replayVersions(r, c)
	}
	return d, err
}

// sessionStatus is the status cards fragment.
func (s *Server) sessionStatus(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Sessions == nil {
		return notConfigured("Managed sessions")
	}
	st, err := s.status(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.fragment(w, c, "session_status", st)
}

// sessionTimeline is the fragment of timeline entries after ?after=seq;
// X-Timeline-After says the newest seq it contains.
func (s *Server) sessionTimeline(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Sessions == nil {
		return notConfigured("Managed sessions")
	}
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		return vargate.Invalid("after", "must be a record number")
	}
	tl, err := s.timeline(r, c, r.PathValue("id"), after)
	if err != nil {
		return err
	}
	w.Header().Set("X-Timeline-After", strconv.FormatInt(tl.After, 10))
	return s.fragment(w, c, "timeline_events", tl)
}

func (s *Server) interrupt(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Interrupter == nil {
		return notConfigured("Interrupting sessions")
	}
	id := r.PathValue("id")
	back := "/ui/sessions/" + id
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		s.flashError(c, "Give a reason for the interrupt; it goes into the audit trail.")
		return redirect(w, r, back)
	}
	ctx, cancel := detached(r.Context(), interruptTimeout)
	defer cancel()
	if err := s.Interrupter.Interrupt(ctx, c.P, id, reason); err != nil {
		if !isUserError(err) {
			return err
		}
		s.flashError(c, "Not interrupted: "+userMessage(err))
		return redirect(w, r, back)
	}
	s.flashOK(c, "Session interrupted.")
	return redirect(w, r, back)
}
