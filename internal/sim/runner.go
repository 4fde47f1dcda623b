package sim

import (
	"fmt"
	"strings"
	"time"
)

// runSession is a session's runner: it takes sent messages off the queue
// and plays a turn of the session's scenario for each. It returns when the
// session is archived, deleted or terminated, or the Server closes.
func (s *Server) runSession(sess *session) {
	defer s.wg.Done()
	r := &runner{s: s, sess: sess}
	for {
		msg, ok := r.next()
		if !ok {
			select {
			case <-sess.ctx.Done():
				return
			case <-sess.notify:
			}
			continue
		}
		r.playTurn(msg)
		s.mu.Lock()
		done := sess.gone || sess.status == StatusTerminated
		s.mu.Unlock()
		if done {
			return
		}
	}
}

// runner holds the scripted agent's position in its scenario. Only the
// session's runner goroutine uses it.
type runner struct {
	s      *Server
	sess   *session
	cursor int     // next step
	dup    bool    // deliver the current step's events twice
	text   string  // the user message that started the turn
	thread *thread // the sub-agent thread playing, nil for the primary
}

// next takes the first queued event. A user.message starts a turn: the
// session becomes running and next reports true. Other queued events
// (user.define_outcome) are only stamped as processed.
func (r *runner) next() (*event, bool) {
	s, sess := r.s, r.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(sess.queue) > 0 && !sess.gone {
		ev := sess.queue[0]
		sess.queue = sess.queue[1:]
		// Already in the history since it was sent: stamp and stream it.
		ev.processedAt = s.now()
		s.broadcast(sess, ev, false)
		sess.touch()
		if ev.typ == "user.define_outcome" {
			sess.outcomes = append(sess.outcomes, newOutcome(ev))
		}
		if ev.typ != "user.message" {
			continue
		}
		sess.interrupted = false
		s.setStatus(sess, StatusRunning, nil, false)
		sess.startOutcomes()
		return ev, true
	}
	return nil, false
}

// turnEnd says how a turn stopped.
type turnEnd int

const (
	goOn        turnEnd = iota // the step is done; play the next one
	endTurn                    // end_turn step or out of steps
	interrupted                // a user.interrupt arrived
	exhausted                  // session.error with retries exhausted
	terminated                 // the session is terminated
	stopped                    // archived, deleted, or the Server closed
)

// playTurn plays steps from the cursor up to the end of the turn.
func (r *runner) playTurn(msg *event) {
	r.text = messageText(msg)
	if r.cursor == 0 { // the scenario has not started: the message may pick one
		if name, ok := strings.CutPrefix(strings.TrimSpace(r.text), MessageScenarioPrefix); ok {
			name, rest, _ := strings.Cut(strings.TrimSpace(name), " ")
			if !r.chooseScenario(name) {
				return
			}
			r.text = strings.TrimSpace(rest)
		}
	}
	steps := r.sess.scenario.Steps
	if r.cursor >= len(steps) {
		r.say("(simulator) The scenario " + r.sess.scenario.Name + " has no more steps.")
		r.finish(endTurn)
		return
	}
	for r.cursor < len(steps) {
		st := steps[r.cursor]
		r.cursor++
		if st.Type == StepEndTurn {
			r.finish(endTurn)
			return
		}
		end := r.play(st)
		if end == goOn && !r.sleep(r.s.opts.StepDelay) {
			end = r.why()
		}
		if end == goOn && r.isInterrupted() {
			end = interrupted
		}
		if end != goOn {
			r.finish(end)
			return
		}
	}
	r.finish(endTurn)
}

// chooseScenario switches the session to the named scenario, as a first
// message "scenario:NAME" asks. An unknown name ends the turn with a
// message that lists the known ones.
func (r *runner) chooseScenario(name string) bool {
	s := r.s
	s.mu.Lock()
	sc, ok := s.scenarios[name]
	known := s.scenarioNamesLocked()
	if ok {
		r.sess.scenario = sc
		r.sess.touch()
	}
	s.mu.Unlock()
	if !ok {
		r.say(fmt.Sprintf("(simulator) Unknown scenario %q. Known scenarios: %s.", name, strings.Join(known, ", ")))
		r.finish(endTurn)
		return false
	}
	s.log.Info("scenario chosen by message", logSession, r.sess.id, logScenario, name)
	return true
}

// finish ends the turn. After an interrupt or an exhausted error the rest
// of the turn's steps are skipped.
func (r *runner) finish(end turnEnd) {
	switch end {
	case interrupted, exhausted:
		r.skipTurn()
	case terminated, stopped:
		return
	}
	stop := StopEndTurn
	if end == exhausted {
		stop = StopRetriesExhausted
	}
	r.s.mu.Lock()
	if end == endTurn {
		r.evaluateOutcomes()
	}
	r.sess.interrupted = false
	r.s.setStatus(r.sess, StatusIdle, stopReason(stop), false)
	r.s.mu.Unlock()
}

// skipTurn moves the cursor past the current turn's end_turn step.
func (r *runner) skipTurn() {
	steps := r.sess.scenario.Steps
	for r.cursor < len(steps) {
		r.cursor++
		if steps[r.cursor-1].Type == StepEndTurn {
			return
		}
	}
}

// play performs one step.
func (r *runner) play(st Step) turnEnd {
	r.dup = st.Duplicate
	defer func() { r.dup = false }()
	if st.Delay > 0 && !r.sleep(r.s.scale(st.Delay)) {
		return r.why()
	}
	switch st.Type {
	case StepMessage:
		r.model(func() { r.say(strings.ReplaceAll(st.Text, UserMessagePlaceholder, r.text)) })
	case StepThinking:
		r.model(func() { r.emit("agent.thinking", nil) })
	case StepTool, StepMCPTool:
		return r.useTools([]Step{st})
	case StepParallel:
		return r.useTools(st.Steps)
	case StepSubagent:
		return r.playSubagent(st)
	case StepCustomTool:
		return r.useCustomTool(st)
	case StepCompact:
		r.emit("agent.thread_context_compacted", nil)
	case StepWait:
		if !r.sleep(r.s.scale(st.Duration)) {
			return r.why()
		}
	case StepError:
		return r.fail(st)
	case StepReschedule:
		return r.reschedule(st.Duration)
	case StepDropStream:
		r.s.mu.Lock()
		r.s.closeStreams(r.sess)
		r.s.mu.Unlock()
	}
	return goOn
}

// model wraps the agent's output in a model request span, as the real
// stream does.
func (r *runner) model(out func()) {
	start := r.emit("span.model_request_start", nil)
	out()
	startID := ""
	if start != nil {
		startID = start.id
	}
	r.emit("span.model_request_end", map[string]any{
		"model_request_start_id": startID, "is_error": false, "model_usage": modelUsage(),
	})
	// Every model request updates the session's usage; the session stream
	// reports it.
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.sess.modelRequests++
	u := r.s.sessionWire(r.sess)
	r.s.emit(r.sess, "session.usage", map[string]any{"usage": u.Usage, "budget": u.Budget}, false)
}

// Token usage of one simulated model request.
const (
	simInputTokens     = 1200
	simOutputTokens    = 80
	simCacheReadTokens = 1000
)

// modelUsage is the token usage of one simulated model request.
func modelUsage() map[string]any {
	return map[string]any{
		"input_tokens": simInputTokens, "output_tokens": simOutputTokens, "cache_creation_input_tokens": 0,
		"cache_read_input_tokens": simCacheReadTokens, "speed": nil,
	}
}

func (r *runner) say(text string) {
	r.emit("agent.message", map[string]any{"content": []map[string]any{textBlock(text)}})
}

// emit records an event of the current step.
func (r *runner) emit(typ string, fields map[string]any) *event {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.thread != nil {
		return r.s.emitThread(r.sess, r.thread, typ, fields, r.dup, false)
	}
	return r.s.emit(r.sess, typ, fields, r.dup)
}

// fail plays an error step.
func (r *runner) fail(st Step) turnEnd {
	e := st.Error
	body := map[string]any{
		"type": e.Type, "message": e.Message, "retry_status": map[string]string{"type": e.RetryStatus},
	}
	if body["message"] == "" {
		body["message"] = "Simulated " + e.Type
	}
	if e.MCPServerName != "" {
		body["mcp_server_name"] = e.MCPServerName
	}
	r.emit("session.error", map[string]any{"error": body})
	switch e.RetryStatus {
	case RetryRetrying:
		return r.reschedule(st.Duration)
	case RetryExhausted:
		return exhausted
	}
	r.s.mu.Lock()
	r.s.setStatus(r.sess, StatusTerminated, nil, r.dup)
	r.s.mu.Unlock()
	return terminated
}

// reschedule plays a rescheduling period of d (scenario time; zero means
// ten step delays).
func (r *runner) reschedule(d Duration) turnEnd {
	wait := r.s.scale(d)
	if d == 0 {
		wait = 10 * max(r.s.opts.StepDelay, 0)
	}
	r.s.mu.Lock()
	if r.thread != nil {
		r.s.threadStatus(r.sess, r.thread, eventThreadRescheduled, StatusRescheduling, nil)
	} else {
		r.s.setStatus(r.sess, StatusRescheduling, nil, r.dup)
	}
	r.s.mu.Unlock()
	if !r.sleep(wait) {
		return r.why()
	}
	r.s.mu.Lock()
	if r.thread != nil {
		r.s.threadStatus(r.sess, r.thread, eventThreadRunning, StatusRunning, nil)
	} else {
		r.s.setStatus(r.sess, StatusRunning, nil, r.dup)
	}
	r.s.mu.Unlock()
	return goOn
}

// sleep pauses for d. It returns false early when the turn is interrupted
// or the session stops.
func (r *runner) sleep(d time.Duration) bool {
	if r.isInterrupted() {
		return false
	}
	if d <= 0 {
		return r.sess.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-r.sess.ctx.Done():
			return false
		case <-t.C:
			return true
		case <-r.sess.notify:
			if r.isInterrupted() {
				return false
			}
		}
	}
}

// why reports why a sleep ended early.
func (r *runner) why() turnEnd {
	if r.sess.ctx.Err() != nil {
		return stopped
	}
	return interrupted
}

func (r *runner) isInterrupted() bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.sess.interrupted
}
