package observe

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// Multi-agent sessions: the primary stream shows sub-agents' status
// changes, cross-thread messages and permission requests, but not every
// tool call a sub-agent makes. Each sub-agent thread is therefore followed
// on its own stream (GET /v1/sessions/{id}/threads/{tid}/stream), with its
// history back-filled on every connection; its events go through the same
// processor, so the (session, event ID) key drops the ones the primary
// stream cross-posted too. A thread's own status events do not move the
// session's lifecycle. An API without threads (404 on the thread
// endpoints) has none to follow.

// followThreads starts a reader for each sub-agent thread the session has
// now (threads created later are announced by session.thread_created).
func (p *processor) followThreads(ctx context.Context) {
	pager := p.client.Beta.Sessions.Threads.ListAutoPaging(ctx, p.st.sess.UpstreamID, anthropic.BetaSessionThreadListParams{Limit: anthropic.Int(100)})
	for pager.Next() {
		t := pager.Current()
		if t.ParentThreadID == "" || !t.ArchivedAt.IsZero() {
			continue // the primary thread is the session stream itself
		}
		p.followThread(t.ID)
	}
	if err := pager.Err(); err != nil && !notFound(err) && ctx.Err() == nil {
		p.log().LogAttrs(ctx, slog.LevelWarn, "list session threads", slog.Any(logKeyError, err))
	}
}

// followThread starts the reader of one thread unless it runs already.
func (p *processor) followThread(threadID string) {
	p.threadMu.Lock()
	defer p.threadMu.Unlock()
	if p.threadsClosed || p.threads[threadID] || p.client == nil {
		return
	}
	if p.threads == nil {
		p.threads = map[string]bool{}
	}
	p.threads[threadID] = true
	p.threadsWG.Add(1)
	go func() {
		defer p.threadsWG.Done()
		p.readThread(p.sctx, threadID)
	}()
}

// stopThreads stops starting thread readers and waits for the running
// ones, which end with the connection's context.
func (p *processor) stopThreads() {
	p.threadMu.Lock()
	p.threadsClosed = true
	p.threadMu.Unlock()
	p.threadsWG.Wait()
}

// readThread back-fills and streams one thread until the connection ends,
// the thread is terminated, or the API does not know it.
func (p *processor) readThread(ctx context.Context, threadID string) {
	log := p.log().With(slog.String(logKeyThread, threadID))
	backoff := p.c.s.reconnectMin()
	for ctx.Err() == nil {
		err := p.readThreadOnce(ctx, threadID)
		switch {
		case ctx.Err() != nil:
			return
		case notFound(err):
			return
		case err == nil:
			t, gerr := p.client.Beta.Sessions.Threads.Get(ctx, threadID, anthropic.BetaSessionThreadGetParams{SessionID: p.st.sess.UpstreamID})
			if gerr == nil && (t.Status == anthropic.BetaManagedAgentsSessionThreadStatusTerminated || !t.ArchivedAt.IsZero()) {
				return
			}
			backoff = p.c.s.reconnectMin()
		default:
			log.LogAttrs(ctx, slog.LevelWarn, "thread stream failed; reconnecting", slog.Any(logKeyError, err))
			backoff = min(backoff*2, p.c.s.reconnectMax())
		}
		sleep(ctx, backoff)
	}
}

func (p *processor) readThreadOnce(ctx context.Context, threadID string) error {
	up := p.st.sess.UpstreamID
	stream := p.client.Beta.Sessions.Threads.Events.StreamEvents(ctx, threadID, anthropic.BetaSessionThreadEventStreamParams{SessionID: up}, option.WithRequestTimeout(0))
	if err := stream.Err(); err != nil {
		return err
	}
	defer stream.Close()
	pager := p.client.Beta.Sessions.Threads.Events.ListAutoPaging(ctx, threadID, anthropic.BetaSessionThreadEventListParams{SessionID: up, Limit: anthropic.Int(100)})
	for pager.Next() {
		if !p.send(item{raw: []byte(pager.Current().RawJSON()), thread: threadID}) {
			return nil
		}
	}
	if err := pager.Err(); err != nil {
		return err
	}
	for stream.Next() {
		if !p.send(item{raw: []byte(stream.Current().RawJSON()), thread: threadID}) {
			return nil
		}
	}
	return stream.Err()
}

// notFound reports whether err is the API's 404.
func notFound(err error) bool {
	var apiErr *anthropic.Error
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}
