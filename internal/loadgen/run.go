package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a call in the mix is meant to meet.
type Kind string

// The kinds of call a mix is made of.
const (
	// Allowed calls a tool the agent may use freely.
	Allowed Kind = "allowed"
	// Denied calls a tool outside the agent's allowed_tools.
	Denied Kind = "denied"
	// Approval calls a tool that needs a human's approval.
	Approval Kind = "approval"
)

// Outcome is how a call ended, as the agent saw it: the gateway's
// ai.vargate/outcome (executed, denied, pending_approval, failed,
// invalid_arguments), or "error" when no tool result came back (a
// transport failure, an HTTP error status, a JSON-RPC error).
type Outcome string

// Outcomes that need naming here.
const (
	OutcomeExecuted Outcome = "executed"
	OutcomeDenied   Outcome = "denied"
	OutcomePending  Outcome = "pending_approval"
	OutcomeFailed   Outcome = "failed"
	OutcomeError    Outcome = "error"
)

// Request is one tools/call, encoded once and sent many times.
type Request struct {
	Kind Kind
	Tool string
	body []byte
}

// NewRequest encodes a tools/call of tool with args as a 2026-07-28
// client sends it: one POST, no session, the protocol version and client
// in _meta.
func NewRequest(kind Kind, tool string, args any) (Request, error) {
	body, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{
			"name": tool, "arguments": args,
			"_meta": map[string]any{
				"io.modelcontextprotocol/protocolVersion":    ProtocolVersion,
				"io.modelcontextprotocol/clientInfo":         map[string]string{"name": "vargate-bench", "version": "1"},
				"io.modelcontextprotocol/clientCapabilities": map[string]any{},
			},
		},
	})
	if err != nil {
		return Request{}, fmt.Errorf("encode call of %s: %w", tool, err)
	}
	return Request{Kind: kind, Tool: tool, body: body}, nil
}

// ProtocolVersion is the MCP version the generator speaks.
const ProtocolVersion = "2026-07-28"

// Weighted is a request and its share of the mix.
type Weighted struct {
	Request Request
	Weight  int
}

// Target is an MCP endpoint to drive.
type Target struct {
	// Name labels the target in reports ("governed", "bare", "sidecar").
	Name string
	// URL is the MCP endpoint (…/api/mcp/server).
	URL string
	// Token is the agent's bearer token; empty for no Authorization.
	Token string
}

// Options describe a run. Zero Concurrency means 1; zero Rate means a
// closed loop (each client sends its next call when the last is answered).
type Options struct {
	Target      Target
	Mix         []Weighted
	Concurrency int
	// Rate is the calls per second to start, spread evenly over time,
	// whatever the answers do (open loop). Latency is then measured from
	// each call's intended start, so a call held up behind a slow one
	// counts the wait (coordinated omission corrected).
	Rate     float64
	Duration time.Duration
	// Warmup runs before the measured Duration; its calls are not counted.
	Warmup time.Duration
	// CallTimeout bounds one call; zero means 30 s.
	CallTimeout time.Duration
	// Client sends the calls; nil means one made for the run, with a
	// keep-alive connection per client.
	Client *http.Client
	// OnResult, if set, sees every measured call's result, from the
	// client goroutines.
	OnResult func(Result)
	// Stop, if set, ends the run early when closed.
	Stop <-chan struct{}
}

// Result is one call's result.
type Result struct {
	Kind    Kind
	Outcome Outcome
	// ActionID is the gateway's ai.vargate/action_id (empty for a bare
	// server and for errors).
	ActionID string
	// Latency is from the intended start (at a fixed rate) or the send
	// (closed loop) to the end of the answer.
	Latency time.Duration
	// Err says why a call ended in OutcomeError.
	Err error
}

// Report is what a run measured.
type Report struct {
	Target      string
	Concurrency int
	Rate        float64
	// Elapsed is the measured window: from its start to the last answer
	// of a call started in it.
	Elapsed time.Duration
	// Calls counts the measured calls that ended, errors included.
	Calls int64
	// Latency is the latency of the calls that got a tool result,
	// coordinated omission corrected at a fixed rate.
	Latency Histogram
	// Service is the time from the actual send to the answer; equal to
	// Latency in a closed loop.
	Service Histogram
	// Outcomes counts the calls by outcome, and ByKind by kind then outcome.
	Outcomes map[Outcome]int64
	ByKind   map[Kind]map[Outcome]int64
	// Errors counts OutcomeError; FirstError is the first one's message.
	Errors     int64
	FirstError string
	// Unsent counts calls of the rate's schedule that were still unsent
	// when the run ended: the target could not keep up.
	Unsent int64
}

// Throughput is the answered calls (errors excluded) per second.
func (r *Report) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls-r.Errors) / r.Elapsed.Seconds()
}

// NewClient returns an HTTP client for n concurrent callers: one
// keep-alive connection each, no compression, no proxy.
func NewClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        n + 16,
		MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// schedule interleaves the mix's requests in proportion to their weights.
func schedule(mix []Weighted) ([]Request, error) {
	var out []Request
	for _, w := range mix {
		for range w.Weight {
			out = append(out, w.Request)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty mix")
	}
	// Spread each kind evenly: order by the position of the i-th
	// occurrence within its own weight (i/weight), a stable interleave.
	type slot struct {
		r   Request
		pos float64
	}
	slots := make([]slot, 0, len(out))
	for _, w := range mix {
		for i := range w.Weight {
			slots = append(slots, slot{w.Request, (float64(i) + 0.5) / float64(w.Weight)})
		}
	}
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].pos < slots[j].pos })
	for i, s := range slots {
		out[i] = s.r
	}
	return out, nil
}

// Run drives the target as opts says and reports what it measured.
func Run(ctx context.Context, opts Options) (*Report, error) {
	sched, err := schedule(opts.Mix)
	if err != nil {
		return nil, err
	}
	n := max(opts.Concurrency, 1)
	client := opts.Client
	if client == nil {
		client = NewClient(n)
		defer client.CloseIdleConnections()
	}
	timeout := opts.CallTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var interval time.Duration
	if opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) / opts.Rate)
	}

	start := time.Now()
	measureStart := start.Add(opts.Warmup)
	end := measureStart.Add(opts.Duration)
	// An open loop that fell behind stops at the latest here; what is
	// still unsent then is reported, not silently dropped.
	hardEnd := end.Add(max(opts.Duration/2, 5*time.Second))

	var (
		next      atomic.Int64
		stopped   atomic.Bool
		mu        sync.Mutex
		lastEnd   time.Time
		firstErr  string
		histLat   = make([]Histogram, n)
		histSvc   = make([]Histogram, n)
		perWorker = make([]map[Kind]map[Outcome]int64, n)
		wg        sync.WaitGroup
	)
	if opts.Stop != nil {
		go func() {
			select {
			case <-opts.Stop:
				stopped.Store(true)
			case <-ctx.Done():
			}
		}()
	}
	for w := range n {
		perWorker[w] = map[Kind]map[Outcome]int64{}
		wg.Go(func() {
			for {
				if ctx.Err() != nil || stopped.Load() {
					return
				}
				i := next.Add(1) - 1
				var intended time.Time
				if interval > 0 {
					intended = start.Add(time.Duration(i) * interval)
					if !intended.Before(end) {
						return
					}
					if d := time.Until(intended); d > 0 {
						timer := time.NewTimer(d)
						select {
						case <-timer.C:
						case <-ctx.Done():
							timer.Stop()
							return
						}
					} else if time.Now().After(hardEnd) {
						return
					}
				}
				sent := time.Now()
				if interval == 0 {
					if !sent.Before(end) {
						return
					}
					intended = sent
				}
				req := sched[int(i%int64(len(sched)))]
				res := call(ctx, client, opts.Target, req, timeout)
				done := time.Now()
				if intended.Before(measureStart) {
					continue // warm-up
				}
				res.Latency = done.Sub(intended)
				m := perWorker[w][req.Kind]
				if m == nil {
					m = map[Outcome]int64{}
					perWorker[w][req.Kind] = m
				}
				m[res.Outcome]++
				if res.Outcome == OutcomeError {
					mu.Lock()
					if firstErr == "" && res.Err != nil {
						firstErr = res.Err.Error()
					}
					mu.Unlock()
				} else {
					histLat[w].Record(res.Latency)
					histSvc[w].Record(done.Sub(sent))
				}
				mu.Lock()
				if done.After(lastEnd) {
					lastEnd = done
				}
				mu.Unlock()
				if opts.OnResult != nil {
					opts.OnResult(res)
				}
			}
		})
	}
	wg.Wait()

	rep := &Report{Target: opts.Target.Name, Concurrency: n, Rate: opts.Rate, FirstError: firstErr,
		Outcomes: map[Outcome]int64{}, ByKind: map[Kind]map[Outcome]int64{}}
	for w := range n {
		rep.Latency.Merge(&histLat[w])
		rep.Service.Merge(&histSvc[w])
		for k, m := range perWorker[w] {
			if rep.ByKind[k] == nil {
				rep.ByKind[k] = map[Outcome]int64{}
			}
			for o, c := range m {
				rep.ByKind[k][o] += c
				rep.Outcomes[o] += c
				rep.Calls += c
			}
		}
	}
	rep.Errors = rep.Outcomes[OutcomeError]
	if lastEnd.After(measureStart) {
		rep.Elapsed = lastEnd.Sub(measureStart)
	}
	if interval > 0 {
		// Calls of the schedule (in the measured window) never sent.
		scheduled := int64(opts.Duration / interval)
		rep.Unsent = max(scheduled-rep.Calls, 0)
		// At a fixed rate the window is the schedule's, not the answers'.
		rep.Elapsed = max(rep.Elapsed, opts.Duration)
	}
	return rep, ctx.Err()
}

// call sends one tools/call and reads what came back.
func call(ctx context.Context, client *http.Client, tg Target, r Request, timeout time.Duration) Result {
	res := Result{Kind: r.Kind, Outcome: OutcomeError}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.URL, bytes.NewReader(r.body))
	if err != nil {
		res.Err = err
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", ProtocolVersion)
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", r.Tool)
	if tg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		res.Err = err
		return res
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		res.Err = fmt.Errorf("read answer: %w", err)
		return res
	}
	if resp.StatusCode != http.StatusOK {
		res.Err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(truncate(body, 300)))
		return res
	}
	res.Outcome, res.ActionID, res.Err = parseAnswer(body)
	return res
}

// rpcAnswer is the part of a JSON-RPC answer the generator reads.
type rpcAnswer struct {
	Result *struct {
		IsError bool `json:"isError"`
		Meta    struct {
			Outcome  string `json:"ai.vargate/outcome"`
			ActionID string `json:"ai.vargate/action_id"`
		} `json:"_meta"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// parseAnswer reads a tools/call answer, plain JSON or an SSE stream
// (the last data: line is the answer).
func parseAnswer(body []byte) (Outcome, string, error) {
	msg := body
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("event:")) || bytes.Contains(body, []byte("\ndata:")) || bytes.HasPrefix(body, []byte("data:")) {
		msg = nil
		for line := range bytes.Lines(body) {
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				msg = bytes.TrimSpace(d)
			}
		}
	}
	var a rpcAnswer
	if err := json.Unmarshal(msg, &a); err != nil {
		return OutcomeError, "", fmt.Errorf("answer is not JSON-RPC: %s", truncate(body, 200))
	}
	if a.Error != nil {
		return OutcomeError, "", fmt.Errorf("JSON-RPC error %d: %s", a.Error.Code, a.Error.Message)
	}
	if a.Result == nil {
		return OutcomeError, "", fmt.Errorf("answer without result: %s", truncate(body, 200))
	}
	id := a.Result.Meta.ActionID
	if o := a.Result.Meta.Outcome; o != "" {
		return Outcome(o), id, nil
	}
	if a.Result.IsError {
		return OutcomeFailed, id, nil
	}
	return OutcomeExecuted, id, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
