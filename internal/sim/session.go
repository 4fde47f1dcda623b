package sim

import (
	"github.com/anthropics/anthropic-sdk-go/v2"

	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// session is a stored session with its event history and the state its
// runner shares with the handlers. Everything is guarded by Server.mu.
type session struct {
	record
	agentID       string
	agent         *agentConfig
	environmentID string
	vaultIDs      []string
	metadata      map[string]string
	title         *string
	budget        json.RawMessage
	resources     []*resource
	createdAt     time.Time
	updatedAt     time.Time

	status        string
	lastStop      string
	runningSince  time.Time
	activeSeconds float64

	events   []*event // events in the order sent or emitted; a queued one has no processed_at yet
	outcomes []*outcome
	// modelRequests counts the simulated model requests (usage).
	modelRequests int64
	// overridden: created with agent_with_overrides, whose agent cannot be
	// updated; budgetRemoved: a budget set to null cannot come back.
	overridden    bool
	budgetRemoved bool
	queue         []*event          // sent messages waiting for the runner
	pending       map[string]*asked // tool uses awaiting user.tool_confirmation or user.custom_tool_result
	// interrupted is set by a user.interrupt while the session runs; the
	// runner ends the turn at the next step boundary.
	interrupted bool
	subs        map[*subscriber]struct{}

	// threads are the primary thread, then the sub-agent threads in the
	// order they started.
	threads []*thread

	scenario Scenario
	// gone is set when the session is archived or deleted: the runner stops
	// and nothing more is emitted.
	gone   bool
	ctx    context.Context
	cancel context.CancelFunc
	notify chan struct{} // wakes the runner; buffered 1
	change chan struct{} // closed and replaced on every change (WaitFor)
}

// asked is the state of one tool use that asked for confirmation.
type asked struct {
	order int
	// custom marks an agent.custom_tool_use awaiting user.custom_tool_result.
	custom      bool
	settled     bool
	allow       bool
	denyMessage string
	result      *event // the user.custom_tool_result of a custom tool use
}

// poke wakes the runner without blocking.
func (sess *session) poke() {
	select {
	case sess.notify <- struct{}{}:
	default:
	}
}

// touch tells WaitFor callers that the session changed.
func (sess *session) touch() {
	close(sess.change)
	sess.change = make(chan struct{})
}

// unsettled returns the pending tool use IDs not yet confirmed, in the
// order they were asked.
func (sess *session) unsettled() []string {
	var ids []string
	for id, a := range sess.pending {
		if !a.settled {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(sess.pending[a].order, sess.pending[b].order) })
	return ids
}

type usageWire struct {
	InputTokens          int64          `json:"input_tokens"`
	OutputTokens         int64          `json:"output_tokens"`
	CacheReadInputTokens int64          `json:"cache_read_input_tokens"`
	CacheCreation        map[string]int `json:"cache_creation"`
	ServerToolUse        any            `json:"server_tool_use"`
	ListCost             any            `json:"list_cost"`
	ActiveSeconds        float64        `json:"active_seconds"`
}

type statsWire struct {
	ActiveSeconds   float64 `json:"active_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
}

type sessionWire struct {
	ID                 string            `json:"id"`
	Type               string            `json:"type"`
	Status             string            `json:"status"`
	Agent              sessionAgentWire  `json:"agent"`
	EnvironmentID      string            `json:"environment_id"`
	VaultIDs           []string          `json:"vault_ids"`
	Resources          []map[string]any  `json:"resources"`
	Metadata           map[string]string `json:"metadata"`
	Title              *string           `json:"title"`
	Budget             json.RawMessage   `json:"budget"`
	Usage              usageWire         `json:"usage"`
	Stats              statsWire         `json:"stats"`
	OutcomeEvaluations []map[string]any  `json:"outcome_evaluations"`
	DeploymentID       *string           `json:"deployment_id"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	ArchivedAt         *time.Time        `json:"archived_at"`
}

// wire returns the session's wire form; the caller holds s.mu.
func (s *Server) sessionWire(sess *session) sessionWire {
	active := sess.activeSeconds
	if sess.status == StatusRunning {
		active += s.now().Sub(sess.runningSince).Seconds()
	}
	n := sess.modelRequests
	in, out, cached := n*simInputTokens, n*simOutputTokens, n*simCacheReadTokens
	return sessionWire{
		ID: sess.id, Type: "session", Status: sess.status, Agent: sessionAgent(sess.agentID, sess.agent),
		EnvironmentID: sess.environmentID, VaultIDs: nonNilSlice(sess.vaultIDs), Resources: resourcesWire(sess.resources),
		Metadata: nonNil(sess.metadata), Title: sess.title, Budget: nullIfEmpty(sess.budget),
		Usage: usageWire{
			InputTokens: in, OutputTokens: out, CacheReadInputTokens: cached, ActiveSeconds: active,
			CacheCreation: map[string]int{"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
		},
		Stats:              statsWire{ActiveSeconds: active, DurationSeconds: s.now().Sub(sess.createdAt).Seconds()},
		OutcomeEvaluations: outcomesWire(sess.outcomes),
		CreatedAt:          sess.createdAt, UpdatedAt: sess.updatedAt, ArchivedAt: sess.archivedAt,
	}
}

type sessionCreateParams struct {
	Agent         json.RawMessage   `json:"agent"`
	EnvironmentID string            `json:"environment_id"`
	Title         *string           `json:"title"`
	Metadata      map[string]string `json:"metadata"`
	VaultIDs      []string          `json:"vault_ids"`
	Resources     []resourceParam   `json:"resources"`
	InitialEvents []eventParam      `json:"initial_events"`
	Budget        json.RawMessage   `json:"budget"`
}

// sessionAgentParams is the object form of a session's agent.
type sessionAgentParams struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version *int64 `json:"version"`
	agentParams
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) (any, error) {
	var p sessionCreateParams
	if err := decodeParams[anthropic.BetaSessionNewParams](w, r, &p); err != nil {
		return nil, err
	}
	if p.Agent == nil || isNull(p.Agent) {
		return nil, invalid("agent: field required")
	}
	if p.EnvironmentID == "" {
		return nil, invalid("environment_id: field required")
	}
	if err := validateMetadata(p.Metadata); err != nil {
		return nil, err
	}
	if len(p.InitialEvents) > maxInitialEvents {
		return nil, invalid("initial_events: at most %d events are allowed", maxInitialEvents)
	}
	initial := make([]*event, 0, len(p.InitialEvents))
	for i, ep := range p.InitialEvents {
		ev, err := newUserEvent(i, ep, true)
		if err != nil {
			return nil, err
		}
		initial = append(initial, ev)
	}
	if err := checkBudget(p.Budget); err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	agentID, cfg, err := s.resolveSessionAgent(p.Agent)
	if err != nil {
		return nil, err
	}
	env, err := s.environment(p.EnvironmentID)
	if err != nil {
		return nil, err
	}
	if env.archivedAt != nil {
		return nil, conflict("Environment %s is archived", env.id)
	}
	for i, vid := range p.VaultIDs {
		if _, err := s.vault(vid); err != nil {
			return nil, invalid("vault_ids[%d]: vault %s not found", i, vid)
		}
	}
	sc := s.scenarios[s.opts.DefaultScenario]
	if name, ok := p.Metadata[MetadataScenarioKey]; ok {
		if sc, ok = s.scenarios[name]; !ok {
			return nil, invalid("metadata.%s: no scenario named %q is registered (known: %s)", MetadataScenarioKey, name, quoteList(s.scenarioNamesLocked()))
		}
	}
	now := s.now()
	resources := make([]*resource, 0, len(p.Resources))
	for i, rp := range p.Resources {
		res, err := s.newResource(i, rp, now)
		if err != nil {
			return nil, err
		}
		resources = append(resources, res)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sess := &session{
		record: s.newRecord(prefixSession), agentID: agentID, agent: cfg, environmentID: env.id,
		vaultIDs: slices.Clone(p.VaultIDs), metadata: p.Metadata, title: p.Title, budget: normalizeBudget(p.Budget), resources: resources,
		createdAt: now, updatedAt: now, status: StatusIdle, pending: map[string]*asked{}, subs: map[*subscriber]struct{}{},
		scenario: sc, ctx: ctx, cancel: cancel, notify: make(chan struct{}, 1), change: make(chan struct{}),
		threads: []*thread{newPrimaryThread(agentID, cfg, now)},
	}
	var ref struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(p.Agent, &ref) // a bare agent ID leaves Type empty
	sess.overridden = ref.Type == "agent_with_overrides"
	s.sessions.add(sess)
	for _, ev := range initial {
		s.accept(sess, ev)
	}
	s.wg.Add(1)
	go s.runSession(sess)
	sess.poke()
	return s.sessionWire(sess), nil
}

// resolveSessionAgent resolves a session's agent: an ID (latest version),
// {type:"agent", id, version} (pinned), or {type:"agent_with_overrides", …}.
// The caller holds s.mu.
func (s *Server) resolveSessionAgent(raw json.RawMessage) (string, *agentConfig, error) {
	var p sessionAgentParams
	if err := json.Unmarshal(raw, &p.ID); err == nil {
		p.Type = "agent"
	} else if err := json.Unmarshal(raw, &p); err != nil {
		return "", nil, invalid("agent: must be an agent ID or an agent reference object")
	}
	a, err := s.agent(p.ID)
	if err != nil {
		return "", nil, err
	}
	if a.archivedAt != nil {
		return "", nil, conflict("Agent %s is archived", a.id)
	}
	cfg := a.latest()
	if p.Version != nil {
		if *p.Version < 1 || *p.Version > int64(len(a.versions)) {
			return "", nil, notFound("Agent %s has no version %d", a.id, *p.Version)
		}
		cfg = a.versions[*p.Version-1]
	}
	switch p.Type {
	case "agent":
		return a.id, cfg, nil
	case "agent_with_overrides":
		over := agentParams{System: p.System, Model: p.Model, Tools: p.Tools, MCPServers: p.MCPServers, Skills: p.Skills}
		next := *cfg
		if err := over.apply(&next); err != nil {
			return "", nil, err
		}
		if err := validateAgentConfig(&next); err != nil {
			return "", nil, err
		}
		return a.id, &next, nil
	}
	return "", nil, invalid("agent.type: must be agent or agent_with_overrides")
}

type sessionUpdateParams struct {
	Title    json.RawMessage    `json:"title"`
	Metadata map[string]*string `json:"metadata"`
	Budget   json.RawMessage    `json:"budget"`
	Agent    *struct {
		Tools      json.RawMessage `json:"tools"`
		MCPServers json.RawMessage `json:"mcp_servers"`
	} `json:"agent"`
	VaultIDs json.RawMessage `json:"vault_ids"`
}

func (s *Server) updateSession(w http.ResponseWriter, r *http.Request) (any, error) {
	var p sessionUpdateParams
	if err := decodeParams[anthropic.BetaSessionUpdateParams](w, r, &p); err != nil {
		return nil, err
	}
	if p.VaultIDs != nil {
		return nil, invalid("vault_ids: can only be set when the session is created")
	}
	title, titleSet, err := optionalString("title", p.Title)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	if sess.archivedAt != nil {
		return nil, conflict("Session %s is archived and cannot be updated", sess.id)
	}
	changed := map[string]any{}
	meta := sess.metadata
	if p.Metadata != nil {
		if meta, err = patchMetadata(sess.metadata, p.Metadata, false); err != nil {
			return nil, err
		}
		changed["metadata"] = meta
	}
	cfg := sess.agent
	if p.Agent != nil {
		if sess.overridden {
			return nil, invalid("agent: only a session created from an agent reference can have its agent updated, not one created with agent_with_overrides")
		}
		if sess.status == StatusRunning || sess.status == StatusRescheduling {
			return nil, conflict("Session %s is running; interrupt it before updating its agent", sess.id)
		}
		next := *sess.agent
		if err := (&agentParams{Tools: p.Agent.Tools, MCPServers: p.Agent.MCPServers}).apply(&next); err != nil {
			return nil, err
		}
		if err := validateAgentConfig(&next); err != nil {
			return nil, err
		}
		cfg = &next
		changed["agent"] = sessionAgent(sess.agentID, cfg)
	}
	if err := checkBudget(p.Budget); err != nil {
		return nil, err
	}
	if p.Budget != nil {
		switch {
		case sess.budgetRemoved && !isNull(p.Budget):
			return nil, invalid("budget: a removed budget cannot be re-added (budget_create_only)")
		case len(sess.budget) == 0 && !isNull(p.Budget):
			return nil, invalid("budget: a budget cannot be added to a session created without one (budget_create_only)")
		}
		changed["budget"] = normalizeBudget(p.Budget)
	}
	if titleSet {
		changed["title"] = title
	}
	sess.metadata, sess.agent = meta, cfg
	if p.Budget != nil {
		sess.budget = normalizeBudget(p.Budget)
		if isNull(p.Budget) {
			sess.budget, sess.budgetRemoved = nil, true
		}
	}
	if titleSet {
		sess.title = &title
	}
	sess.updatedAt = s.now()
	if len(changed) > 0 {
		s.emit(sess, "session.updated", changed, false)
	}
	return s.sessionWire(sess), nil
}

func (s *Server) listSessions(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	includeArchived, err := queryBool(q, "include_archived")
	if err != nil {
		return nil, err
	}
	desc, err := queryOrder(q, true)
	if err != nil {
		return nil, err
	}
	created, err := parseTimeRange(q, "created_at")
	if err != nil {
		return nil, err
	}
	var agentVersion int64
	if v := q.Get("agent_version"); v != "" {
		if agentVersion, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, invalid("agent_version: must be an integer")
		}
	}
	statuses, err := queryEnum(q, "statuses", []string{StatusRescheduling, StatusRunning, StatusIdle, StatusTerminated})
	if err != nil {
		return nil, err
	}
	agentID, memoryStoreID, deploymentID := q.Get("agent_id"), q.Get("memory_store_id"), q.Get("deployment_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*session
	for _, sess := range s.sessions.items {
		switch {
		case !includeArchived && sess.archivedAt != nil,
			agentID != "" && sess.agentID != agentID,
			agentVersion != 0 && sess.agent.Version != agentVersion,
			len(statuses) > 0 && !slices.Contains(statuses, sess.status),
			memoryStoreID != "" && !sess.mountsMemoryStore(memoryStoreID),
			deploymentID != "", // no simulated session is created by a deployment
			!created.contains(sess.createdAt):
			continue
		}
		list = append(list, sess)
	}
	slices.SortFunc(list, func(a, b *session) int {
		if desc {
			return cmp.Compare(b.seq, a.seq)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	page, err := paginate(list, func(sess *session) int64 { return sess.seq }, q, desc, true)
	if err != nil {
		return nil, err
	}
	data := make([]sessionWire, 0, len(page.Data))
	for _, sess := range page.Data {
		data = append(data, s.sessionWire(sess))
	}
	// Sessions use the bidirectional cursor: prev_page is always present.
	return struct {
		Data     []sessionWire `json:"data"`
		NextPage *string       `json:"next_page"`
		PrevPage *string       `json:"prev_page"`
	}{data, page.NextPage, page.PrevPage}, nil
}

func (s *Server) archiveSession(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	if sess.status == StatusRunning || sess.status == StatusRescheduling {
		return nil, conflict("Session %s is running; interrupt it before archiving", sess.id)
	}
	if sess.archivedAt == nil {
		now := s.now()
		sess.archivedAt, sess.updatedAt = &now, now
		sess.gone = true
		sess.cancel()
		sess.touch()
	}
	return s.sessionWire(sess), nil
}

func (s *Server) deleteSession(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	if sess.status == StatusRunning || sess.status == StatusRescheduling {
		return nil, conflict("Session %s is running; interrupt it before deleting", sess.id)
	}
	// Streams learn of the deletion, then close; the event is not kept.
	s.broadcast(sess, &event{id: newID(prefixEvent), typ: "session.deleted", processedAt: s.now()}, false)
	s.closeStreams(sess)
	sess.gone = true
	sess.cancel()
	sess.touch()
	s.sessions.remove(sess)
	return map[string]string{"id": sess.id, "type": "session_deleted"}, nil
}

// session returns the stored session; the caller holds s.mu.
func (s *Server) session(id string) (*session, error) { return s.sessions.get(id) }

// scenarioNamesLocked is ScenarioNames for a caller that holds s.mu.
func (s *Server) scenarioNamesLocked() []string {
	names := make([]string, 0, len(s.scenarios))
	for n := range s.scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
