package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/vault"
)

// Stream is a session's open Anthropic event stream.
type Stream = ssestream.Stream[anthropic.BetaManagedAgentsStreamSessionEventsUnion]

// OpenStream opens the session's event stream with the tenant's key. The
// stream lives as long as ctx; it delivers only what happens after it is
// open. The client's RequestTimeout (for ordinary calls) does not apply:
// a stream is judged by its silence, not its age.
func (s *Service) OpenStream(ctx context.Context, sess Session) (*Stream, error) {
	c, err := s.Upstream.Client(ctx, sess.TenantID, vault.Purpose{SessionID: sess.ID, Actor: ActorSystem})
	if err != nil {
		return nil, err
	}
	st := c.Beta.Sessions.Events.StreamEvents(ctx, sess.AnthropicSessionID, anthropic.BetaSessionEventStreamParams{}, option.WithRequestTimeout(0))
	if err := st.Err(); err != nil {
		st.Close()
		return nil, upstreamError(StepStream, err)
	}
	return st, nil
}

// DenyUnconfirmed is what the default observer tells the agent when it
// refuses a built-in tool call that waits for confirmation.
const DenyUnconfirmed = "Vargate: this built-in tool call needs the gateway's confirmation, and no confirmation handler is configured; it was denied."

// StreamObserver is the minimal default Observer: it follows each
// session's event stream through the SDK and drives the lifecycle (turn
// ends, running again, terminated), records built-in tool calls as
// mcp_observed audit records, and answers confirmations of governed
// built-in tools with Confirm (nil: deny, fail closed). A dropped or
// silent stream is reopened and the session reconciled with its event
// history. internal/observe replaces it with the full consumer.
type StreamObserver struct {
	Service *Service
	// Confirm decides a built-in tool call waiting for confirmation; nil
	// denies every one.
	Confirm func(ctx context.Context, s Session, tool string, input json.RawMessage) (allow bool, denyMessage string)

	mu      sync.Mutex
	follows map[string]context.CancelFunc
	closed  bool
	wg      sync.WaitGroup
}

// Attach opens the session's stream and follows it in the background.
func (o *StreamObserver) Attach(ctx context.Context, sess Session) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return vargate.Errorf(vargate.KindUnavailable, "the event consumer is shut down")
	}
	if _, ok := o.follows[sess.ID]; ok {
		o.mu.Unlock()
		return nil
	}
	if o.follows == nil {
		o.follows = map[string]context.CancelFunc{}
	}
	// The stream outlives the request that attached it.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.follows[sess.ID] = cancel
	o.mu.Unlock()

	conn, closeConn := context.WithCancel(fctx)
	st, err := o.Service.OpenStream(conn, sess)
	if err != nil {
		closeConn()
		o.forget(sess.ID)
		cancel()
		return err
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer o.forget(sess.ID)
		o.follow(fctx, sess, st, closeConn)
	}()
	return nil
}

// Detach stops following the session.
func (o *StreamObserver) Detach(id string) {
	o.mu.Lock()
	cancel := o.follows[id]
	delete(o.follows, id)
	o.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Close stops every stream and waits for the followers to return.
func (o *StreamObserver) Close() error {
	o.mu.Lock()
	o.closed = true
	for _, cancel := range o.follows {
		cancel()
	}
	o.mu.Unlock()
	o.wg.Wait()
	return nil
}

// Following reports whether the session's stream is followed.
func (o *StreamObserver) Following(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.follows[id]
	return ok
}

func (o *StreamObserver) forget(id string) {
	o.mu.Lock()
	delete(o.follows, id)
	o.mu.Unlock()
}

// follower is the state of one followed session.
type follower struct {
	o      *StreamObserver
	sess   Session
	seen   map[string]bool // event IDs handled (the transport may repeat)
	uses   map[string]toolUse
	denied map[string]bool // tool uses the gateway refused to confirm
}

type toolUse struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	Input               json.RawMessage `json:"input"`
	EvaluatedPermission string          `json:"evaluated_permission"`
}

type toolResult struct {
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// follow reads the stream until the session ends or the follower is
// detached, reopening it (with backoff) when it drops or stays silent.
// closeConn ends the current connection.
func (o *StreamObserver) follow(ctx context.Context, sess Session, st *Stream, closeConn context.CancelFunc) {
	f := &follower{o: o, sess: sess, seen: map[string]bool{}, uses: map[string]toolUse{}, denied: map[string]bool{}}
	log := o.Service.logger().With(slog.String(logKeySession, sess.ID))
	backoff := 500 * time.Millisecond
	for {
		done := f.read(ctx, st, closeConn)
		st.Close()
		closeConn()
		if done || ctx.Err() != nil {
			return
		}
		cur, err := o.Service.Store.Get(ctx, sess.TenantID, sess.ID)
		if err == nil && cur.Status.Final() {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			var conn context.Context
			conn, closeConn = context.WithCancel(ctx)
			st, err = o.Service.OpenStream(conn, sess)
			if err == nil {
				break
			}
			closeConn()
			log.LogAttrs(ctx, slog.LevelWarn, "cannot reopen the event stream", slog.String(logKeyError, err.Error()))
		}
		if err := o.Service.Reconcile(ctx, sess); err != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "cannot reconcile after reconnecting", slog.String(logKeyError, err.Error()))
		}
	}
}

// read handles events until the stream ends; it reports whether the
// session ended.
func (f *follower) read(ctx context.Context, st *Stream, closeConn context.CancelFunc) bool {
	idle := f.o.Service.StreamIdleTimeout
	if idle <= 0 {
		idle = DefaultStreamIdleTimeout
	}
	// A stream that delivers no event for longer than idle is reopened
	// and the session reconciled: cheap if it was merely quiet, and the
	// cure if the connection died without closing.
	watchdog := time.AfterFunc(idle, closeConn)
	defer watchdog.Stop()
	for st.Next() {
		watchdog.Reset(idle)
		ev := st.Current()
		if ev.ID != "" {
			if f.seen[ev.ID] {
				continue
			}
			if len(f.seen) > 4096 {
				clear(f.seen)
			}
			f.seen[ev.ID] = true
		}
		if f.handle(ctx, ev) {
			return true
		}
	}
	if err := st.Err(); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		f.o.Service.logger().LogAttrs(ctx, slog.LevelInfo, "event stream ended",
			slog.String(logKeySession, f.sess.ID), slog.String(logKeyError, err.Error()))
	}
	return false
}

// handle processes one event; it reports whether the session ended.
func (f *follower) handle(ctx context.Context, ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
	svc := f.o.Service
	log := svc.logger()
	var sess Session
	var err error
	switch ev.Type {
	case "session.status_running":
		sess, err = svc.Resumed(ctx, f.sess.TenantID, f.sess.ID)
	case "session.status_idle":
		if ev.StopReason.Type == StopRequiresAction {
			f.confirm(ctx, ev.StopReason.EventIDs)
			return false
		}
		sess, err = svc.TurnEnded(ctx, f.sess.TenantID, f.sess.ID, ev.StopReason.Type)
	case "session.status_terminated":
		sess, err = svc.Fail(ctx, f.sess.TenantID, f.sess.ID, "terminated upstream")
	case "session.deleted":
		sess, err = svc.Fail(ctx, f.sess.TenantID, f.sess.ID, "deleted upstream")
	case "session.error":
		log.LogAttrs(ctx, slog.LevelWarn, "session error upstream", slog.String(logKeySession, f.sess.ID),
			slog.String(logKeyEvent, ev.Type), slog.String(logKeyError, ev.Error.Type))
		return false
	case "agent.tool_use":
		var u toolUse
		if json.Unmarshal([]byte(ev.RawJSON()), &u) == nil {
			f.uses[u.ID] = u
		}
		return false
	case "agent.tool_result":
		var r toolResult
		if json.Unmarshal([]byte(ev.RawJSON()), &r) == nil {
			u, ok := f.uses[r.ToolUseID]
			delete(f.uses, r.ToolUseID)
			if ok {
				f.observed(ctx, u, r)
			}
		}
		return false
	default:
		return false
	}
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "cannot apply a session event", slog.String(logKeySession, f.sess.ID),
			slog.String(logKeyEvent, ev.Type), slog.String(logKeyError, err.Error()))
		return false
	}
	return sess.Status.Final()
}

// confirm answers the built-in tool calls waiting for confirmation.
func (f *follower) confirm(ctx context.Context, ids []string) {
	svc := f.o.Service
	var answers []anthropic.BetaManagedAgentsEventParamsUnion
	for _, id := range ids {
		allow, msg := false, DenyUnconfirmed
		if u, ok := f.uses[id]; ok && f.o.Confirm != nil {
			allow, msg = f.o.Confirm(ctx, f.sess, u.Name, u.Input)
		}
		if !allow {
			f.denied[id] = true
		}
		answers = append(answers, Confirmation(id, allow, msg))
	}
	if len(answers) == 0 {
		return
	}
	if err := svc.Confirm(ctx, f.sess, answers...); err != nil {
		svc.logger().LogAttrs(ctx, slog.LevelError, "cannot answer tool confirmations",
			slog.String(logKeySession, f.sess.ID), slog.String(logKeyError, err.Error()))
	}
}

// observed records a built-in tool call as an mcp_observed audit record:
// the tool, redacted arguments, their digest and the result's digest.
func (f *follower) observed(ctx context.Context, u toolUse, r toolResult) {
	args := u.Input
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	redacted, err := pii.Redact(args)
	if err != nil {
		redacted = nil
	}
	sum := sha256.Sum256(r.Content)
	decision := "observed"
	if u.EvaluatedPermission == "deny" || f.denied[u.ID] {
		decision = policy.Deny
	}
	delete(f.denied, u.ID)
	err = f.o.Service.audit(ctx, audit.Record{
		TenantID: f.sess.TenantID, Source: audit.SourceMCPObserved, SessionID: f.sess.ID, AgentID: f.sess.AgentID,
		ActionID: u.ID, Tool: u.Name, Decision: decision, ArgsDigest: policy.Digest(args), ArgsRedacted: redacted,
		ResultDigest: "sha256:" + hex.EncodeToString(sum[:]), Actor: f.sess.ID,
	}, map[string]any{"evaluated_permission": u.EvaluatedPermission, "is_error": r.IsError})
	if err != nil {
		f.o.Service.logger().LogAttrs(ctx, slog.LevelError, "observed tool call not recorded",
			slog.String(logKeySession, f.sess.ID), slog.String(logKeyError, err.Error()))
	}
}
