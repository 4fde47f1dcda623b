package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// subscriberBuffer is how many frames a slow stream client may fall behind
// before the simulator drops its connection.
const subscriberBuffer = 1024

// subscriber is one open event stream.
type subscriber struct {
	// thread is the sub-agent thread whose stream this is; "" for the
	// session stream.
	thread string
	frames chan []byte
	// deltas lists the event types whose previews (event_start,
	// event_delta) this stream asked for with event_deltas[].
	deltas map[string]bool
}

// sseFrame formats one server-sent event. The SDK drops frames without an
// event: line, so every frame has one.
func sseFrame(typ string, data []byte) []byte {
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", typ, data)
}

// broadcast sends ev to the session's open streams, twice when dup. A
// stream that cannot keep up is closed. The caller holds s.mu.
func (s *Server) broadcast(sess *session, ev *event, dup bool) {
	if len(sess.subs) == 0 {
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("encode event", logSession, sess.id, logErr, err)
		return
	}
	frame := sseFrame(ev.typ, data)
	for sub := range sess.subs {
		if !ev.visibleIn(sub.thread) {
			continue
		}
		var frames [][]byte
		if sub.deltas[ev.typ] {
			frames = append(frames, previewFrames(ev)...)
		}
		frames = append(frames, frame)
		if dup {
			frames = append(frames, frame)
		}
	send:
		for _, f := range frames {
			select {
			case sub.frames <- f:
			default:
				s.log.Warn("event stream too slow; closing it", logSession, sess.id)
				s.closeStream(sess, sub)
				break send
			}
		}
	}
}

// previewFrames returns the opt-in previews of an event: event_start, and
// for agent.message one content_delta with the whole text.
func previewFrames(ev *event) [][]byte {
	start, _ := json.Marshal(map[string]any{"type": "event_start", "event": map[string]string{"type": ev.typ, "id": ev.id}})
	frames := [][]byte{sseFrame("event_start", start)}
	if ev.typ == "agent.message" {
		blocks, _ := ev.fields["content"].([]map[string]any)
		for i, b := range blocks {
			delta, _ := json.Marshal(map[string]any{
				"type": "event_delta", "event_id": ev.id,
				"delta": map[string]any{"type": "content_delta", "index": i, "content": b},
			})
			frames = append(frames, sseFrame("event_delta", delta))
		}
	}
	return frames
}

// closeStream ends one stream; the caller holds s.mu.
func (s *Server) closeStream(sess *session, sub *subscriber) {
	if _, ok := sess.subs[sub]; ok {
		delete(sess.subs, sub)
		close(sub.frames)
	}
}

// closeStreams ends every open stream of the session; the caller holds s.mu.
func (s *Server) closeStreams(sess *session) {
	for sub := range sess.subs {
		s.closeStream(sess, sub)
	}
}

// streamEvents serves GET /v1/sessions/{id}/events/stream and a sub-agent
// thread's GET /v1/sessions/{id}/threads/{tid}/stream: events that happen
// after the client connects (no replay), with heartbeats.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	sub := &subscriber{frames: make(chan []byte, subscriberBuffer), deltas: map[string]bool{}}
	for _, d := range queryValues(r.URL.Query(), "event_deltas") {
		if d != "agent.message" && d != "agent.thinking" {
			writeError(w, invalid("event_deltas: %q is not supported; use agent.message or agent.thinking", d))
			return
		}
		sub.deltas[d] = true
	}
	s.mu.Lock()
	sess, err := s.session(r.PathValue("session_id"))
	if err == nil {
		sub.thread, err = s.threadOf(sess, r)
	}
	if err == nil && s.closed {
		err = unavailable("The simulator is shutting down.")
	}
	if err != nil {
		s.mu.Unlock()
		writeError(w, err)
		return
	}
	sess.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.closeStream(sess, sub)
		s.mu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := time.NewTicker(s.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	ping := sseFrame("ping", []byte(`{"type":"ping"}`))
	for {
		var frame []byte
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			frame = ping
		case f, ok := <-sub.frames:
			if !ok {
				return // dropped, deleted, or the simulator closed
			}
			frame = f
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
