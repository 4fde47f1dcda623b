package sim

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/vargate/vargate"
)

// SessionInfo is what tests and the demo may inspect of a session without
// going through the API.
type SessionInfo struct {
	ID           string
	Status       string
	Archived     bool
	AgentID      string
	AgentVersion int64
	VaultIDs     []string
	Metadata     map[string]string
	// Scenario is the name of the scenario the session plays.
	Scenario string
	// StopReason is the stop_reason type of the last session.status_idle.
	StopReason string
	// Pending lists the tool use event IDs awaiting user.tool_confirmation.
	Pending []string
	// Queued counts sent messages the agent has not taken yet.
	Queued int
}

// Event is one processed session event as the API reports it.
type Event struct {
	ID          string
	Type        string
	ProcessedAt time.Time
	// JSON is the event's wire form.
	JSON json.RawMessage
}

// Session returns a snapshot of the session. An unknown (or deleted)
// session is a vargate not_found error.
func (s *Server) Session(id string) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions.items[id]
	if !ok {
		return SessionInfo{}, vargate.NotFound("session " + id)
	}
	return s.info(sess), nil
}

// SessionIDs returns the IDs of the sessions that exist, oldest first: the
// way to find a session that a gateway created on a test's behalf.
func (s *Server) SessionIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := slices.Collect(maps.Values(s.sessions.items))
	slices.SortFunc(list, func(a, b *session) int { return cmp.Compare(a.seq, b.seq) })
	ids := make([]string, 0, len(list))
	for _, sess := range list {
		ids = append(ids, sess.id)
	}
	return ids
}

// Events returns the session's processed events in order.
func (s *Server) Events(id string) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions.items[id]
	if !ok {
		return nil, vargate.NotFound("session " + id)
	}
	return eventsOf(sess), nil
}

// WaitFor blocks until cond holds for the session (checked now and after
// every change), the context ends, or the session is deleted.
func (s *Server) WaitFor(ctx context.Context, id string, cond func(SessionInfo, []Event) bool) error {
	for {
		s.mu.Lock()
		sess, ok := s.sessions.items[id]
		if !ok {
			s.mu.Unlock()
			return vargate.NotFound("session " + id)
		}
		info, evs, change := s.info(sess), eventsOf(sess), sess.change
		s.mu.Unlock()
		if cond(info, evs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return vargate.Wrap(vargate.KindUnavailable, ctx.Err(), "wait for session %s (status %s, %d events)", id, info.Status, len(evs))
		case <-change:
		}
	}
}

// WaitIdle waits until the session is idle with the given stop reason
// (any when empty), with nothing queued.
func (s *Server) WaitIdle(ctx context.Context, id, stopReason string) error {
	return s.WaitFor(ctx, id, func(info SessionInfo, _ []Event) bool {
		return info.Status == StatusIdle && info.Queued == 0 && info.StopReason != "" &&
			(stopReason == "" || info.StopReason == stopReason)
	})
}

// info snapshots a session; the caller holds s.mu.
func (s *Server) info(sess *session) SessionInfo {
	return SessionInfo{
		ID: sess.id, Status: sess.status, Archived: sess.archivedAt != nil,
		AgentID: sess.agentID, AgentVersion: sess.agent.Version,
		VaultIDs: slices.Clone(sess.vaultIDs), Metadata: maps.Clone(sess.metadata),
		Scenario: sess.scenario.Name, StopReason: sess.lastStop, Pending: sess.unsettled(), Queued: len(sess.queue),
	}
}

// eventsOf copies the session's events; the caller holds s.mu.
func eventsOf(sess *session) []Event {
	out := make([]Event, 0, len(sess.events))
	for _, ev := range sess.events {
		if ev.processedAt.IsZero() {
			continue // still queued
		}
		data, _ := json.Marshal(ev)
		out = append(out, Event{ID: ev.id, Type: ev.typ, ProcessedAt: ev.processedAt, JSON: data})
	}
	return out
}
