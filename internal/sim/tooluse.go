package sim

import (
	"errors"
	"maps"
	"slices"
)

// Default texts the agent sees for refused calls.
const (
	defaultDenyMessage = "The user denied this tool call."
	autoDenyMessage    = "This tool call was denied by the permission policy."
)

// call is one tool use of a tool, mcp_tool or parallel step.
type call struct {
	st         Step
	server     string // MCP server name; empty for built-in tools
	url        string // MCP server URL
	permission string // allow, ask or deny
	evaluation map[string]any
	use        *event
	// Set once an ask is settled.
	allowed     bool
	denyMessage string
}

// evaluate applies a permission policy to a call. The simulated auto
// policy allows unless the step's auto_permission says otherwise.
func evaluate(policy, auto string) (string, map[string]any) {
	switch policy {
	case policyAllow:
		return "allow", map[string]any{"type": policyAllow}
	case policyAsk:
		return "ask", map[string]any{"type": policyAsk}
	}
	perm := auto
	if perm == "" {
		perm = "allow"
	}
	verdict := map[string]any{"type": perm}
	if perm != "allow" {
		verdict["reason_code"] = "simulated_" + perm
	}
	return perm, map[string]any{"type": policyAuto, "evaluated_permission": verdict}
}

// useTools plays tool calls made at once: every tool use event first, then,
// if some asked, one requires_action idle until user.tool_confirmation
// settles them all, then the results in order. An interrupt that arrives
// meanwhile takes effect after the results: the in-flight step completes.
func (r *runner) useTools(steps []Step) turnEnd {
	s, sess := r.s, r.sess
	s.mu.Lock()
	cfg := sess.agent
	s.mu.Unlock()

	calls := make([]*call, 0, len(steps))
	for _, st := range steps {
		c := &call{st: st}
		if st.Type == StepMCPTool {
			c.server = st.Server
			if c.server == "" && len(cfg.MCPServers) > 0 {
				c.server = cfg.MCPServers[0].Name
			}
			url, ok := cfg.mcpServerURL(c.server)
			if !ok {
				s.log.Warn("scenario step skipped: the agent has no such MCP server", logSession, sess.id, logServer, c.server, logTool, st.Name)
				continue
			}
			c.url = url
		}
		policy, usable := toolPolicy(cfg.Tools, c.server, st.Name)
		if !usable {
			s.log.Warn("scenario step skipped: the tool is not enabled for the agent", logSession, sess.id, logServer, c.server, logTool, st.Name)
			continue
		}
		c.permission, c.evaluation = evaluate(policy, st.AutoPermission)
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		return goOn
	}

	r.model(func() {
		for _, c := range calls {
			input := maps.Clone(c.st.Input)
			if input == nil {
				input = map[string]any{}
			}
			fields := map[string]any{
				"name": c.st.Name, "input": input, "evaluated_permission": c.permission,
				"evaluation": c.evaluation, "session_thread_id": nil,
			}
			typ := "agent.tool_use"
			if c.server != "" {
				typ = "agent.mcp_tool_use"
				fields["mcp_server_name"] = c.server
			}
			c.use = r.emit(typ, fields)
		}
	})
	if end := r.confirm(calls); end != goOn {
		return end
	}
	for _, c := range calls {
		r.result(c)
	}
	return goOn
}

// confirm parks the session on the calls that asked until every one is
// settled by user.tool_confirmation.
func (r *runner) confirm(calls []*call) turnEnd {
	s, sess := r.s, r.sess
	var ids []string
	s.mu.Lock()
	for _, c := range calls {
		if c.permission == "ask" && c.use != nil {
			sess.pending[c.use.id] = &asked{order: len(ids)}
			ids = append(ids, c.use.id)
		}
	}
	if len(ids) == 0 {
		s.mu.Unlock()
		return goOn
	}
	s.setStatus(sess, StatusIdle, stopReason(StopRequiresAction, ids...), r.dup)
	s.mu.Unlock()

	// The handler of the last confirmation sets the session running again.
	for {
		s.mu.Lock()
		rest := sess.unsettled()
		s.mu.Unlock()
		if len(rest) == 0 {
			break
		}
		select {
		case <-sess.ctx.Done():
			return stopped
		case <-sess.notify:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range calls {
		if c.use == nil {
			continue
		}
		if a, ok := sess.pending[c.use.id]; ok {
			c.allowed, c.denyMessage = a.allow, a.denyMessage
			delete(sess.pending, c.use.id)
		}
	}
	return goOn
}

// result runs a call that may run and emits its result; a refused call
// gets an error result with the deny message, which is what the agent sees.
func (r *runner) result(c *call) {
	if c.use == nil {
		return
	}
	var content []map[string]any
	isError := false
	switch {
	case c.permission == "deny":
		content, isError = []map[string]any{textBlock(autoDenyMessage)}, true
	case c.permission == "ask" && !c.allowed:
		msg := c.denyMessage
		if msg == "" {
			msg = defaultDenyMessage
		}
		content, isError = []map[string]any{textBlock(msg)}, true
	case c.server == "":
		content, isError = []map[string]any{textBlock(c.st.Result)}, c.st.IsError
	default:
		content, isError = r.callServer(c)
	}
	if c.server == "" {
		r.emit("agent.tool_result", map[string]any{"tool_use_id": c.use.id, "content": content, "is_error": isError})
		return
	}
	r.emit("agent.mcp_tool_result", map[string]any{"mcp_tool_use_id": c.use.id, "content": content, "is_error": isError})
}

// callServer calls the MCP tool for real with the session's vault token for
// the server's URL. A failed connection is reported as a session.error and
// an error result.
func (r *runner) callServer(c *call) ([]map[string]any, bool) {
	s, sess := r.s, r.sess
	s.mu.Lock()
	token, _ := s.mcpToken(sess.vaultIDs, c.url)
	s.mu.Unlock()
	content, isError, err := s.callMCP(sess.ctx, c.url, token, c.st.Name, c.st.Input)
	if err == nil {
		return content, isError
	}
	if sess.ctx.Err() != nil {
		return []map[string]any{textBlock("The session stopped before the tool call completed.")}, true
	}
	typ := "mcp_connection_failed_error"
	if errors.Is(err, errMCPAuth) {
		typ = "mcp_authentication_failed_error"
	}
	s.log.Warn("MCP call failed", logSession, sess.id, logServer, c.server, logTool, c.st.Name, logErr, err)
	r.emit("session.error", map[string]any{"error": map[string]any{
		"type": typ, "message": err.Error(), "retry_status": map[string]string{"type": RetryExhausted}, "mcp_server_name": c.server,
	}})
	return []map[string]any{textBlock("Error: could not reach MCP server " + c.server + ": " + err.Error())}, true
}

// useCustomTool plays a custom_tool step: agent.custom_tool_use of the
// agent's custom tool, then the session idles with requires_action until
// user.custom_tool_result answers it (the client runs custom tools).
func (r *runner) useCustomTool(st Step) turnEnd {
	s, sess := r.s, r.sess
	s.mu.Lock()
	declared := slices.ContainsFunc(sess.agent.Tools, func(t toolset) bool { return t.Type == toolCustom && t.Name == st.Name })
	s.mu.Unlock()
	if !declared {
		s.log.Warn("scenario step skipped: the agent has no such custom tool", logSession, sess.id, logTool, st.Name)
		return goOn
	}
	var use *event
	r.model(func() {
		input := maps.Clone(st.Input)
		if input == nil {
			input = map[string]any{}
		}
		use = r.emit("agent.custom_tool_use", map[string]any{"name": st.Name, "input": input})
	})
	if use == nil {
		return stopped
	}
	s.mu.Lock()
	sess.pending[use.id] = &asked{custom: true}
	s.setStatus(sess, StatusIdle, stopReason(StopRequiresAction, use.id), r.dup)
	s.mu.Unlock()
	// The handler of the result sets the session running again.
	for {
		s.mu.Lock()
		settled := sess.pending[use.id].settled
		if settled {
			delete(sess.pending, use.id)
		}
		s.mu.Unlock()
		if settled {
			return goOn
		}
		select {
		case <-sess.ctx.Done():
			return stopped
		case <-sess.notify:
		}
	}
}
