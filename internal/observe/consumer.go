package observe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
)

// errFinished ends a consumer whose session ended.
var errFinished = errors.New("observe: session finished")

// errIdle ends a connection that stayed silent for SSETimeout.
var errIdle = errors.New("observe: event stream idle")

// item is one raw event handed to the processor.
type item struct {
	raw []byte
	// thread is the sub-agent thread whose stream delivered the event;
	// empty for the session's primary stream.
	thread string
}

// liveBuffer is how many streamed events may wait while the history is
// back-filled.
const liveBuffer = 1 << 14

// consumer consumes one session's events while this process holds the
// lease. Each connection starts from the stored state: a fresh load, a
// back-fill of the history from the cursor, then the live stream.
type consumer struct {
	s         *Service
	sessionID string
	tenantID  string

	mu       sync.Mutex
	cancel   context.CancelFunc
	stopped  bool
	isDetach bool
	expired  bool
	conn     context.CancelFunc // cancels the current connection
	// client is the upstream client of the consumer's connections: the
	// tenant's key is released (and audited) once per consumer, not once
	// per reconnect; it is dropped when Anthropic refuses it (a rotated
	// key) and fetched again.
	client *anthropic.Client
	// poisoned holds the digests of events dead-lettered, so that a
	// back-fill delivering one again writes no second record.
	poisoned map[string]bool
	// isolated counts the commits still to make one event at a time
	// after the store refused a batch; refusedEvents holds the events the store
	// refused alone (see storeRefused).
	isolated      int
	refusedEvents map[string]bool
}

// detach marks the session ended: the consumer finishes once the stream
// shows it stopped, or when grace has passed.
func (c *consumer) detach(grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isDetach {
		return
	}
	c.isDetach = true
	time.AfterFunc(grace, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.expired = true
		if c.conn != nil {
			c.conn()
		}
	})
}

func (c *consumer) detached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isDetach
}

func (c *consumer) graceOver() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expired
}

func newConsumer(s *Service, sess Session) *consumer {
	return &consumer{s: s, sessionID: sess.SessionID, tenantID: sess.TenantID}
}

// stop ends the consumer without releasing its lease (it was lost).
func (c *consumer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *consumer) log() *slog.Logger {
	return c.s.Logger.With(slog.String(logKeyTenant, c.tenantID), slog.String(logKeySession, c.sessionID))
}

// run connects, consumes and reconnects with backoff until the session
// ends, the lease is lost or the service closes. On close it releases the
// lease so that the next owner resumes at once.
func (c *consumer) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	c.mu.Lock()
	c.cancel = cancel
	stopped := c.stopped
	c.mu.Unlock()
	defer cancel()
	if stopped {
		return
	}
	log := c.log()
	// A connection that ends after it was up a while (dropped, or silent
	// for SSETimeout) is reconnected at once; one that fails to open, or
	// ends again at once, waits a backoff that doubles from ReconnectMin
	// up to ReconnectMax (short: the back-fill makes a reconnect cheap).
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		st, err := c.load(ctx)
		opened := false
		start := time.Now()
		if err == nil {
			if st.sess.State == StateDone {
				return
			}
			if c.graceOver() {
				// Detached and the grace is over: stop reading.
				p := &processor{c: c, st: st}
				err = p.finish(ctx, c.s.finalStatus(ctx, &st.sess.Target))
			} else {
				cctx, ccancel := context.WithCancel(ctx)
				c.mu.Lock()
				c.conn = ccancel
				c.mu.Unlock()
				opened, err = c.connect(cctx, st)
				ccancel()
				if c.graceOver() && ctx.Err() == nil {
					continue
				}
			}
		}
		healthy := opened && time.Since(start) >= c.s.reconnectMax()
		switch {
		case errors.Is(err, errFinished), errors.Is(err, ErrLeaseLost):
			if errors.Is(err, ErrLeaseLost) {
				log.LogAttrs(ctx, slog.LevelWarn, "observe lease lost; consumer stops")
			}
			return
		case ctx.Err() != nil:
		case healthy, errors.Is(err, errReload):
			// The stream was up and dropped or went silent, or a poison
			// event was set aside: reconnect now.
			backoff = 0
			log.LogAttrs(ctx, slog.LevelInfo, "event stream ended; reconnecting", slog.Any(logKeyError, err))
		default:
			backoff = min(max(backoff*2, c.s.reconnectMin()), c.s.reconnectMax())
			level := slog.LevelWarn
			if err == nil || errors.Is(err, errIdle) {
				level = slog.LevelInfo
			}
			log.LogAttrs(ctx, level, "event stream ended; reconnecting after a pause",
				slog.Any(logKeyError, err), slog.Int64(logKeyDelay, backoff.Milliseconds()))
			sleep(ctx, backoff)
		}
	}
	c.mu.Lock()
	lost := c.stopped
	c.mu.Unlock()
	if !lost {
		rctx, rcancel := context.WithTimeout(context.Background(), c.s.sideTimeout())
		defer rcancel()
		if err := c.s.Store.Release(rctx, c.s.Owner, c.sessionID); err != nil {
			log.LogAttrs(rctx, slog.LevelWarn, "release observe lease", slog.Any(logKeyError, err))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// connect runs one connection: open the stream first (it has no replay),
// back-fill the history from the cursor, then pass on streamed events;
// the processor drops the ones it has seen. It returns nil when the
// stream ends, errIdle when it went silent; opened reports whether the
// stream was opened.
func (c *consumer) connect(ctx context.Context, st *state) (opened bool, err error) {
	client, err := c.upstream(ctx)
	if err != nil {
		return false, err
	}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	act := &activity{}
	act.touch()
	// The SDK opens the stream; its typed stream decodes each event into
	// a large union (≈25 µs an event), so the same response is read
	// through the SDK's SSE decoder instead, and the consumer decodes only
	// the fields it needs from each frame's data. The stream has no
	// request timeout (the client's bounds one ordinary call): it lives
	// until it ends or stays silent for SSETimeout (the watchdog).
	var resp *http.Response
	typed := client.Beta.Sessions.Events.StreamEvents(sctx, st.sess.UpstreamID, anthropic.BetaSessionEventStreamParams{},
		option.WithRequestTimeout(0), option.WithMiddleware(act.middleware), option.WithResponseInto(&resp))
	if err := typed.Err(); err != nil {
		c.refused(err)
		return false, c.upstreamErr(ctx, st, err)
	}
	defer typed.Close()
	if resp == nil {
		return false, errors.New("observe: the SDK returned no stream response")
	}
	stream := ssestream.NewDecoder(resp)
	c.s.stats.connections.Add(1)

	in := make(chan item, c.s.maxBatch()*2)
	procDone := make(chan struct{})
	var procErr error
	p := &processor{c: c, st: st, client: client, sctx: sctx}
	p.send = func(it item) bool {
		select {
		case in <- it:
			return true
		case <-procDone:
			return false
		case <-sctx.Done():
			return false
		}
	}
	go func() {
		defer close(procDone)
		procErr = p.run(ctx, in)
	}()

	// The live stream is read from now on, while the history is paged.
	live := make(chan item, liveBuffer)
	var liveErr error
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		defer close(live)
		for stream.Next() {
			frame := stream.Event()
			switch frame.Type {
			case "ping", "":
				continue // heartbeats (counted by the activity watch)
			case "error":
				liveErr = fmt.Errorf("event stream error: %s", bytes.TrimSpace(frame.Data))
				return
			}
			// The decoder reuses nothing: Data is the frame's own copy.
			select {
			case live <- item{raw: frame.Data}:
			case <-sctx.Done():
				return
			}
		}
		liveErr = stream.Err()
	}()
	idle := make(chan struct{})
	readers.Add(1)
	go func() {
		defer readers.Done()
		c.watchdog(sctx, act, idle, scancel)
	}()

	err = c.backfill(sctx, client, st, p.send)
	if err == nil {
		p.followThreads(sctx)
	forward:
		for {
			select {
			case it, ok := <-live:
				if !ok {
					err = liveErr
					break forward
				}
				if !p.send(it) {
					break forward
				}
			case <-procDone:
				break forward
			}
		}
	}
	// Stop every sender before closing in; the processor handles what
	// was already queued.
	scancel()
	p.stopThreads()
	readers.Wait()
	close(in)
	<-procDone
	if procErr != nil {
		return true, procErr
	}
	select {
	case <-idle:
		return true, errIdle
	default:
	}
	if err != nil && ctx.Err() == nil {
		return true, err
	}
	return true, nil
}

// upstream returns the consumer's client, asking Upstream (which
// releases and audits the tenant's key) only the first time and after
// Anthropic refused the key.
func (c *consumer) upstream(ctx context.Context) (*anthropic.Client, error) {
	c.mu.Lock()
	client := c.client
	c.mu.Unlock()
	if client != nil {
		return client, nil
	}
	client, err := c.s.Upstream.Client(ctx, c.tenantID, c.sessionID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.client = client
	c.mu.Unlock()
	return client, nil
}

// refused drops the client when Anthropic refused its key (401, 403): the
// next connection takes the tenant's current key.
func (c *consumer) refused(err error) {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden) {
		c.mu.Lock()
		c.client = nil
		c.mu.Unlock()
	}
}

// upstreamErr turns a failure to open the stream into the consumer's
// next step: a session the API no longer knows has ended (failed).
func (c *consumer) upstreamErr(ctx context.Context, st *state, err error) error {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		p := &processor{c: c, st: st}
		if err := p.lifecycle(ctx, stepFailed+"the upstream session no longer exists"); err != nil {
			return err
		}
		// The lifecycle did not end it (a stale 404?): try again later.
		return err
	}
	return err
}

// backfill pages the session's history from shortly before the cursor.
func (c *consumer) backfill(ctx context.Context, client *anthropic.Client, st *state, send func(item) bool) error {
	params := anthropic.BetaSessionEventListParams{Limit: anthropic.Int(100)}
	if !st.sess.Cursor.IsZero() {
		params.CreatedAtGte = anthropic.Time(st.sess.Cursor.Add(-c.s.historySlack()))
	}
	pager := client.Beta.Sessions.Events.ListAutoPaging(ctx, st.sess.UpstreamID, params)
	for pager.Next() {
		if !send(item{raw: []byte(pager.Current().RawJSON())}) {
			return nil
		}
	}
	return pager.Err()
}

// watchdog cancels the connection when nothing (not even a heartbeat)
// arrived for SSETimeout.
func (c *consumer) watchdog(ctx context.Context, act *activity, idle chan<- struct{}, cancel context.CancelFunc) {
	timeout := c.s.sseTimeout()
	tick := min(max(timeout/10, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if act.silentFor() >= timeout {
			close(idle)
			cancel()
			return
		}
	}
}

// activity records when bytes last arrived on a stream, heartbeats
// included (the SDK skips ping frames, so events alone cannot tell a
// quiet session from a dead connection).
type activity struct{ last atomic.Int64 }

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activity) silentFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - a.last.Load())
}

func (a *activity) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	resp, err := next(req)
	if resp != nil && resp.Body != nil {
		resp.Body = &activityBody{ReadCloser: resp.Body, a: a}
	}
	return resp, err
}

type activityBody struct {
	io.ReadCloser
	a *activity
}

func (b *activityBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.a.touch()
	}
	return n, err
}
