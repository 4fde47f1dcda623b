package sim

import (
	"net/http"
	"slices"
	"time"
)

// thread is a thread of a multi-agent session. Every session has a
// primary thread, whose events are the session stream; a subagent step
// starts a sub-agent thread. A sub-agent's events are on its own stream
// (GET …/threads/{tid}/stream), tagged with session_thread_id; the session
// stream shows its status changes and its permission requests too.
type thread struct {
	id        string
	agentName string
	// agentID and agent are the configuration the thread runs: the
	// session's agent for the primary thread; for a sub-agent, the stored
	// agent of that name, or else the session's agent under that name.
	agentID   string
	agent     *agentConfig
	parent    string // "" for the primary thread
	status    string // idle, running, terminated
	createdAt time.Time
	updatedAt time.Time
	archived  *time.Time
}

// maxThreadPageLimit is the default and the maximum page size of the
// threads list (the SDK documents "Defaults to 1000").
const maxThreadPageLimit = 1000

// threadStatuses are the statuses a thread list may filter on.
var threadStatuses = []string{StatusRunning, StatusIdle, StatusRescheduling, StatusTerminated}

// Thread status events (on both streams).
const (
	eventThreadCreated     = "session.thread_created"
	eventThreadRunning     = "session.thread_status_running"
	eventThreadIdle        = "session.thread_status_idle"
	eventThreadRescheduled = "session.thread_status_rescheduled"
	eventThreadEnded       = "session.thread_status_terminated"
)

// newPrimaryThread returns a session's primary thread.
func newPrimaryThread(agentID string, cfg *agentConfig, now time.Time) *thread {
	return &thread{id: newID(prefixThread), agentName: cfg.Name, agentID: agentID, agent: cfg, status: StatusIdle, createdAt: now, updatedAt: now}
}

// threadAgent is a thread's agent snapshot: the session agent's fields
// without multiagent (BetaManagedAgentsSessionThreadAgent).
func threadAgent(id string, c *agentConfig) map[string]any {
	w := sessionAgent(id, c)
	return map[string]any{
		"type": w.Type, "id": w.ID, "name": w.Name, "description": w.Description, "system": w.System,
		"model": w.Model, "tools": w.Tools, "mcp_servers": w.MCPServers, "skills": w.Skills,
		"execution_identity": w.ExecutionIdentity, "version": w.Version,
	}
}

// subagentConfig returns the configuration of the sub-agent named name:
// the newest stored agent of that name, else the session's agent renamed.
// The caller holds s.mu.
func (s *Server) subagentConfig(sess *session, name string) (string, *agentConfig) {
	var best *agent
	for _, a := range s.agents.items {
		if a.archivedAt == nil && a.latest().Name == name && (best == nil || a.seq > best.seq) {
			best = a
		}
	}
	if best != nil {
		return best.id, best.latest()
	}
	c := *sess.agent
	c.Name = name
	return sess.agentID, &c
}

func (t *thread) wire(sess *session) map[string]any {
	parent := any(nil)
	if t.parent != "" {
		parent = t.parent
	}
	archived := any(nil)
	if t.archived != nil {
		archived = *t.archived
	}
	return map[string]any{
		"type": "session_thread", "id": t.id, "session_id": sess.id, "parent_thread_id": parent,
		"agent":  threadAgent(t.agentID, t.agent),
		"status": t.status, "created_at": t.createdAt, "updated_at": t.updatedAt, "archived_at": archived,
		"stats":           map[string]any{"active_seconds": 0, "duration_seconds": t.updatedAt.Sub(t.createdAt).Seconds(), "startup_seconds": 0},
		"usage":           map[string]any{"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation": map[string]any{}},
		"workflow_run_id": nil,
	}
}

// threadOf returns the sub-agent thread the request's {thread_id} names,
// "" for none or the primary thread. The caller holds s.mu.
func (s *Server) threadOf(sess *session, r *http.Request) (string, error) {
	id := r.PathValue("thread_id")
	if id == "" {
		return "", nil
	}
	t, err := sess.thread(id)
	if err != nil {
		return "", err
	}
	if t.parent == "" {
		return "", nil
	}
	return t.id, nil
}

func (sess *session) thread(id string) (*thread, error) {
	for _, t := range sess.threads {
		if t.id == id {
			return t, nil
		}
	}
	return nil, notFound("Thread %s not found in session %s", id, sess.id)
}

func (s *Server) listThreads(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	statuses, err := queryEnum(q, "statuses", threadStatuses)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	type indexed struct {
		seq int64
		t   *thread
	}
	var list []indexed
	for i, t := range sess.threads {
		if len(statuses) == 0 || slices.Contains(statuses, t.status) {
			list = append(list, indexed{int64(i + 1), t})
		}
	}
	page, err := paginateLimits(list, func(x indexed) int64 { return x.seq }, q, false, false, maxThreadPageLimit, maxThreadPageLimit)
	if err != nil {
		return nil, err
	}
	return mapPage(page, func(x indexed) map[string]any { return x.t.wire(sess) }), nil
}

func (s *Server) getThread(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	t, err := sess.thread(r.PathValue("thread_id"))
	if err != nil {
		return nil, err
	}
	return t.wire(sess), nil
}

func (s *Server) archiveThread(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	t, err := sess.thread(r.PathValue("thread_id"))
	if err != nil {
		return nil, err
	}
	switch {
	case t.parent == "":
		return nil, invalid("The primary thread cannot be archived; archive the session instead")
	case t.status == StatusRunning:
		return nil, conflict("Thread %s is running; interrupt the session before archiving it", t.id)
	}
	if t.archived == nil {
		now := s.now()
		t.archived, t.updatedAt = &now, now
	}
	return t.wire(sess), nil
}

// emitThread records an event of a sub-agent thread, tagged with its
// session_thread_id; a shared event, and a permission request
// (evaluated_permission ask), is shown on the session stream too. The
// caller holds s.mu.
func (s *Server) emitThread(sess *session, t *thread, typ string, fields map[string]any, dup, shared bool) *event {
	if sess.gone {
		return nil
	}
	if fields == nil {
		fields = map[string]any{}
	}
	if eventHasField(typ, "session_thread_id") {
		fields["session_thread_id"] = t.id
	}
	ev := &event{id: newID(prefixEvent), typ: typ, processedAt: s.now(), fields: fields, thread: t.id}
	ev.shared = shared || fields["evaluated_permission"] == "ask"
	s.record(sess, ev, dup)
	t.updatedAt = ev.processedAt
	return ev
}

// threadStatus moves a sub-agent thread to status and emits the event that
// says so on both streams. The caller holds s.mu.
func (s *Server) threadStatus(sess *session, t *thread, typ, status string, extra map[string]any) {
	if sess.gone {
		return
	}
	t.status = status
	fields := map[string]any{"agent_name": t.agentName}
	for k, v := range extra {
		fields[k] = v
	}
	s.emitThread(sess, t, typ, fields, false, true)
}

// playSubagent runs a subagent step: a sub-agent thread is created and
// runs the step's steps on its own stream, then goes idle and reports back
// to the primary thread.
func (r *runner) playSubagent(st Step) turnEnd {
	s, sess := r.s, r.sess
	s.mu.Lock()
	now := s.now()
	primary := sess.threads[0]
	agentID, cfg := s.subagentConfig(sess, st.Agent)
	t := &thread{id: newID(prefixThread), agentName: st.Agent, agentID: agentID, agent: cfg, parent: primary.id, status: StatusIdle, createdAt: now, updatedAt: now}
	sess.threads = append(sess.threads, t)
	s.emit(sess, "agent.thread_message_sent", map[string]any{
		"to_session_thread_id": t.id, "to_agent_name": t.agentName,
		"content": []map[string]any{textBlock("Please take this on: " + r.text)},
	}, false)
	s.threadStatus(sess, t, eventThreadCreated, StatusIdle, map[string]any{"workflow_run_id": nil})
	s.threadStatus(sess, t, eventThreadRunning, StatusRunning, nil)
	s.mu.Unlock()

	r.thread = t
	end := goOn
	for _, sub := range st.Steps {
		if end = r.play(sub); end == goOn && r.isInterrupted() {
			end = interrupted
		}
		if end != goOn {
			break
		}
	}
	r.thread = nil

	s.mu.Lock()
	defer s.mu.Unlock()
	s.threadStatus(sess, t, eventThreadIdle, StatusIdle, map[string]any{"stop_reason": stopReason(StopEndTurn), "stop_details": nil})
	if end == goOn {
		s.emit(sess, "agent.thread_message_received", map[string]any{
			"from_session_thread_id": t.id, "from_agent_name": t.agentName, "content": []map[string]any{textBlock("(" + t.agentName + ") done.")},
		}, false)
	}
	return end
}

// terminateThreads ends the sub-agent threads of a terminated session.
// The caller holds s.mu.
func (s *Server) terminateThreads(sess *session) {
	for _, t := range sess.threads[1:] {
		if t.status != StatusTerminated {
			s.threadStatus(sess, t, eventThreadEnded, StatusTerminated, nil)
		}
	}
}
