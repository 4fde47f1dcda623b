package sim

import (
	"github.com/anthropics/anthropic-sdk-go/v2"
	"reflect"

	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Session statuses.
const (
	StatusIdle         = "idle"
	StatusRunning      = "running"
	StatusRescheduling = "rescheduling"
	StatusTerminated   = "terminated"
)

// Stop reasons of session.status_idle.
const (
	StopEndTurn          = "end_turn"
	StopRequiresAction   = "requires_action"
	StopRetriesExhausted = "retries_exhausted"
)

// event is one session event. Its wire form is the fields plus id, type and
// processed_at (null while a sent event waits in the queue).
type event struct {
	id          string
	typ         string
	processedAt time.Time
	fields      map[string]any
	// thread is the sub-agent thread the event belongs to; "" for the
	// primary thread (the session stream).
	thread string
	// shared marks a sub-agent's event that the session stream shows too
	// (its status changes and permission requests).
	shared bool
}

// visibleIn reports whether the event is on the stream of thread tid (""
// for the session stream).
func (e *event) visibleIn(tid string) bool {
	return e.thread == tid || (tid == "" && e.shared)
}

// MarshalJSON writes the event's wire form.
func (e *event) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(e.fields)+3)
	maps.Copy(m, e.fields)
	m["id"], m["type"] = e.id, e.typ
	if e.processedAt.IsZero() {
		m["processed_at"] = nil
	} else {
		m["processed_at"] = e.processedAt
	}
	return json.Marshal(m)
}

// emit records a new event of the session and sends it to the open streams
// (twice when dup). It does nothing once the session is deleted or
// archived. The caller holds s.mu.
func (s *Server) emit(sess *session, typ string, fields map[string]any, dup bool) *event {
	if sess.gone {
		return nil
	}
	ev := &event{id: newID(prefixEvent), typ: typ, processedAt: s.now(), fields: fields}
	s.record(sess, ev, dup)
	return ev
}

// record appends a processed event to the history and broadcasts it; the
// caller holds s.mu.
func (s *Server) record(sess *session, ev *event, dup bool) {
	sess.events = append(sess.events, ev)
	s.broadcast(sess, ev, dup)
	sess.touch()
}

// setStatus moves the session to status and emits the matching status
// event; idle carries stop_reason. The caller holds s.mu.
func (s *Server) setStatus(sess *session, status string, stop map[string]any, dup bool) {
	if sess.gone {
		return
	}
	now := s.now()
	if sess.status == StatusRunning && status != StatusRunning {
		sess.activeSeconds += now.Sub(sess.runningSince).Seconds()
	}
	if status == StatusRunning && sess.status != StatusRunning {
		sess.runningSince = now
	}
	sess.status = status
	sess.updatedAt = now
	sess.threads[0].status, sess.threads[0].updatedAt = status, now
	switch status {
	case StatusRunning:
		s.emit(sess, "session.status_running", nil, dup)
	case StatusRescheduling:
		s.emit(sess, "session.status_rescheduled", nil, dup)
	case StatusTerminated:
		s.terminateThreads(sess)
		s.emit(sess, "session.status_terminated", nil, dup)
	case StatusIdle:
		sess.lastStop, _ = stop["type"].(string)
		s.emit(sess, "session.status_idle", map[string]any{"stop_reason": stop, "stop_details": nil}, dup)
	}
}

func stopReason(typ string, eventIDs ...string) map[string]any {
	m := map[string]any{"type": typ}
	if typ == StopRequiresAction {
		m["event_ids"] = eventIDs
	}
	return m
}

// eventParam is the request form of an event sent to a session.
type eventParam struct {
	Type            string          `json:"type"`
	Content         json.RawMessage `json:"content"`
	SessionThreadID *string         `json:"session_thread_id"`
	ToolUseID       string          `json:"tool_use_id"`
	Result          string          `json:"result"`
	DenyMessage     *string         `json:"deny_message"`
	CustomToolUseID string          `json:"custom_tool_use_id"`
	IsError         *bool           `json:"is_error"`
	Description     string          `json:"description"`
	Rubric          json.RawMessage `json:"rubric"`
	MaxIterations   *int64          `json:"max_iterations"`
}

// newUserEvent validates a sent event and returns it, not yet processed.
// initial restricts the types to those initial_events accepts.
func newUserEvent(i int, p eventParam, initial bool) (*event, error) {
	ev := &event{id: newID(prefixEvent), typ: p.Type, fields: map[string]any{}}
	if initial && p.Type != "user.message" && p.Type != "user.define_outcome" {
		return nil, invalid("initial_events[%d].type: only user.message and user.define_outcome are allowed", i)
	}
	switch p.Type {
	case "user.message", "system.message":
		var blocks []map[string]any
		if err := json.Unmarshal(p.Content, &blocks); err != nil || len(blocks) == 0 {
			return nil, invalid("events[%d].content: must be a non-empty array of content blocks", i)
		}
		for j, b := range blocks {
			typ, _ := b["type"].(string)
			if typ == "" || (p.Type == "system.message" && typ != "text") {
				return nil, invalid("events[%d].content[%d].type: invalid content block", i, j)
			}
		}
		ev.fields["content"] = blocks
	case "user.interrupt":
		ev.fields["session_thread_id"] = p.SessionThreadID
	case "user.tool_confirmation":
		if p.ToolUseID == "" {
			return nil, invalid("events[%d].tool_use_id: field required", i)
		}
		if p.Result != "allow" && p.Result != "deny" {
			return nil, invalid("events[%d].result: must be allow or deny", i)
		}
		if p.DenyMessage != nil && p.Result != "deny" {
			return nil, invalid("events[%d].deny_message: only allowed when result is deny", i)
		}
		ev.fields["tool_use_id"], ev.fields["result"], ev.fields["deny_message"] = p.ToolUseID, p.Result, p.DenyMessage
		ev.fields["session_thread_id"] = p.SessionThreadID
	case "user.define_outcome":
		if p.Description == "" || len(p.Rubric) == 0 {
			return nil, invalid("events[%d]: user.define_outcome needs description and rubric", i)
		}
		maxIter := int64(3)
		if p.MaxIterations != nil {
			maxIter = *p.MaxIterations
		}
		ev.fields["description"], ev.fields["rubric"], ev.fields["max_iterations"] = p.Description, p.Rubric, maxIter
		ev.fields["outcome_id"] = newID(prefixOutcome)
	case "user.custom_tool_result":
		var content []map[string]any
		if len(p.Content) > 0 && !isNull(p.Content) {
			if err := json.Unmarshal(p.Content, &content); err != nil {
				return nil, invalid("events[%d].content: must be an array of content blocks", i)
			}
		}
		ev.fields["custom_tool_use_id"], ev.fields["content"] = p.CustomToolUseID, nonNilSlice(content)
		ev.fields["is_error"] = p.IsError != nil && *p.IsError
		if p.SessionThreadID != nil {
			ev.fields["session_thread_id"] = p.SessionThreadID
		}
	case "user.tool_result":
		return nil, invalid("events[%d].type: user.tool_result is only accepted for self-hosted environments", i)
	case "":
		return nil, invalid("events[%d].type: field required", i)
	default:
		return nil, invalid("events[%d].type: unknown event type %q", i, p.Type)
	}
	return ev, nil
}

// messageText joins the text blocks of a user.message.
func messageText(ev *event) string {
	blocks, _ := ev.fields["content"].([]map[string]any)
	var parts []string
	for _, b := range blocks {
		if t, ok := b["text"].(string); ok && b["type"] == "text" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "\n")
}

func (s *Server) sendEvents(w http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Events []eventParam `json:"events"`
	}
	if err := decodeParams[anthropic.BetaSessionEventSendParams](w, r, &body); err != nil {
		return nil, err
	}
	if len(body.Events) == 0 {
		return nil, invalid("events: must contain at least one event")
	}
	evs := make([]*event, 0, len(body.Events))
	for i, p := range body.Events {
		ev, err := newUserEvent(i, p, false)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	if err := s.checkSendable(sess, evs); err != nil {
		return nil, err
	}
	settles := false
	for _, ev := range evs {
		s.accept(sess, ev)
		settles = settles || ev.typ == "user.tool_confirmation" || ev.typ == "user.custom_tool_result"
	}
	if settles {
		s.afterSettling(sess)
	}
	sess.poke()
	// Encode under the lock: the runner stamps queued events when it takes them.
	data, err := json.Marshal(map[string]any{"data": evs})
	return json.RawMessage(data), err
}

// checkSendable validates the events against the session's state before
// any is applied, so that a request is applied whole or not at all.
func (s *Server) checkSendable(sess *session, evs []*event) error {
	switch {
	case sess.archivedAt != nil:
		return conflict("Session %s is archived and does not accept events", sess.id)
	case sess.status == StatusTerminated:
		return conflict("Session %s is terminated and does not accept events", sess.id)
	}
	settled := map[string]bool{}
	for i, ev := range evs {
		if tid, _ := ev.fields["session_thread_id"].(*string); tid != nil {
			if _, err := sess.thread(*tid); err != nil {
				return invalid("events[%d].session_thread_id: no thread %s in session %s", i, *tid, sess.id)
			}
		}
		switch ev.typ {
		case "user.tool_confirmation":
			id, _ := ev.fields["tool_use_id"].(string)
			c, ok := sess.pending[id]
			if !ok || c.custom || c.settled || settled[id] {
				return invalid("events[%d].tool_use_id: %s is not awaiting confirmation", i, id)
			}
			settled[id] = true
		case "user.custom_tool_result":
			id, _ := ev.fields["custom_tool_use_id"].(string)
			c, ok := sess.pending[id]
			if !ok || !c.custom || c.settled || settled[id] {
				return invalid("events[%d].custom_tool_use_id: no custom tool use %s is awaiting a result", i, id)
			}
			settled[id] = true
		}
	}
	return nil
}

// accept applies one sent event; the caller holds s.mu. Messages and
// outcomes wait in the queue for the runner (they are in the history at
// once, with processed_at null until the runner takes them); an interrupt
// jumps the queue; a confirmation or a custom tool result settles a
// pending tool use at once (see afterSettling).
func (s *Server) accept(sess *session, ev *event) {
	switch ev.typ {
	case "user.message", "user.define_outcome":
		sess.events = append(sess.events, ev)
		sess.queue = append(sess.queue, ev)
		sess.touch()
	case "user.interrupt":
		ev.processedAt = s.now()
		s.record(sess, ev, false)
		if sess.status == StatusRunning || sess.status == StatusRescheduling {
			sess.interrupted = true
		}
	case "user.tool_confirmation", "user.custom_tool_result":
		ev.processedAt = s.now()
		s.record(sess, ev, false)
		id, _ := ev.fields["tool_use_id"].(string)
		if ev.typ == "user.custom_tool_result" {
			id, _ = ev.fields["custom_tool_use_id"].(string)
		}
		c := sess.pending[id]
		c.settled, c.allow = true, ev.fields["result"] == "allow"
		if dm, _ := ev.fields["deny_message"].(*string); dm != nil {
			c.denyMessage = *dm
		}
		if ev.typ == "user.custom_tool_result" {
			c.result = ev
		}
	default: // system.message: context for the next model request
		ev.processedAt = s.now()
		s.record(sess, ev, false)
	}
}

// afterSettling moves the session on once per request that settled tool
// uses: running when nothing is left to settle, else idle again on what is
// left (so that no idle event names a tool use the same request settled).
// The caller holds s.mu.
func (s *Server) afterSettling(sess *session) {
	if rest := sess.unsettled(); len(rest) > 0 {
		s.setStatus(sess, StatusIdle, stopReason(StopRequiresAction, rest...), false)
		return
	}
	s.setStatus(sess, StatusRunning, nil, false)
}

func (s *Server) listEvents(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	desc, err := queryOrder(q, false)
	if err != nil {
		return nil, err
	}
	processed, err := parseTimeRange(q, "created_at")
	if err != nil {
		return nil, err
	}
	types, err := queryEnum(q, "types", sdkEnumTypes["BetaManagedAgentsSessionEventType"])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	tid, err := s.threadOf(sess, r)
	if err != nil {
		return nil, err
	}
	type indexed struct {
		seq int64
		ev  *event
	}
	var list []indexed
	for i, ev := range sess.events {
		if ev.visibleIn(tid) && (len(types) == 0 || slices.Contains(types, ev.typ)) && processed.contains(ev.processedAt) {
			list = append(list, indexed{int64(i + 1), ev})
		}
	}
	if desc {
		slices.Reverse(list)
	}
	page, err := paginate(list, func(x indexed) int64 { return x.seq }, q, desc, false)
	if err != nil {
		return nil, err
	}
	// Encode under the lock: the runner stamps queued events when it takes them.
	data, err := json.Marshal(mapPage(page, func(x indexed) *event { return x.ev }))
	return json.RawMessage(data), err
}

// eventFields lists, per event type, the JSON fields of the SDK's type for
// that event, read from the SDK by reflection (each As… method of the
// session event union returns one variant).
var eventFields = func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	u := reflect.TypeFor[anthropic.BetaManagedAgentsSessionEventUnion]()
	for i := range u.NumMethod() {
		m := u.Method(i)
		if !strings.HasPrefix(m.Name, "As") || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.Struct {
			continue
		}
		rt := m.Type.Out(0)
		fields, typ := map[string]bool{}, ""
		for j := range rt.NumField() {
			f := rt.Field(j)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "type" {
				typ = f.Tag.Get("default")
			}
			if name != "" && name != "-" {
				fields[name] = true
			}
		}
		if typ != "" {
			out[typ] = fields
		}
	}
	return out
}()

// eventHasField reports whether events of type typ have the JSON field.
func eventHasField(typ, field string) bool { return eventFields[typ][field] }
