package mcpserver

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
)

// Cancellation. The SDK's stateless handler runs a tool handler under a
// context detached from the HTTP request, so neither a closed connection
// nor a notifications/cancelled (which arrives on a POST of its own when
// there is no session) reaches the governor. Our code carries both:
//
//   - requestCtxKey puts the HTTP request's context in the TokenInfo the
//     SDK hands the tool handler, and callTool cancels the call when it
//     ends (the client went away or closed the stream);
//   - inflight maps (caller, JSON-RPC request ID) of each tools/call of
//     the older protocols to the cancel function of its request, and a
//     notifications/cancelled from the same caller naming that ID
//     cancels it (read here, at the HTTP layer: the SDK acknowledges a
//     notification at once and may close the stateless session before
//     reading it).

// requestCtxKey holds the HTTP request's context in the TokenInfo.
const requestCtxKey = "vargate.request_ctx"

// callKey names one in-flight tools/call: the caller's tenant and
// credential, and the request ID as JSON.
type callKey struct{ tenant, actor, id string }

// inflight holds the cancel functions of the calls that may be cancelled
// by notification.
type inflight struct {
	mu    sync.Mutex
	calls map[callKey]context.CancelCauseFunc
}

// errClientCancelled is the cause of a call the client cancelled.
var errClientCancelled = errors.New("the client sent notifications/cancelled")

func (f *inflight) add(k callKey, cancel context.CancelCauseFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[callKey]context.CancelCauseFunc{}
	}
	f.calls[k] = cancel
}

func (f *inflight) remove(k callKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.calls, k)
}

func (f *inflight) cancel(k callKey) bool {
	f.mu.Lock()
	c, ok := f.calls[k]
	f.mu.Unlock()
	if ok {
		c(errClientCancelled)
	}
	return ok
}

func keyOf(p vargate.Principal, id string) callKey {
	return callKey{tenant: p.TenantID, actor: p.KeyID + "/" + p.SessionID, id: id}
}

// cancellable makes tools/call requests of the older protocols (those
// that may send notifications/cancelled) cancellable by ID. A
// 2026-07-28 request (Mcp-Method header) is cancelled by closing its
// stream only, which the request context already carries.
func (s *Server) cancellable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Mcp-Method") != "" {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := vargate.FromContext(r.Context())
		m := messageOf(r.Context())
		if !ok || m == nil || !m.single {
			next.ServeHTTP(w, r)
			return
		}
		if m.method == "notifications/cancelled" {
			// Handled here: the SDK answers a notification at once and
			// closes the stateless session, maybe before it is read.
			if m.cancelID != "" {
				s.inflight.cancel(keyOf(p, m.cancelID))
			}
			next.ServeHTTP(w, r)
			return
		}
		if m.method != "tools/call" || m.id == "" {
			next.ServeHTTP(w, r)
			return
		}
		id := m.id
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		k := keyOf(p, id)
		s.inflight.add(k, cancel)
		defer s.inflight.remove(k)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withRequest returns ctx cancelled also when the HTTP request of the call
// ends, and a function to release it.
func withRequest(ctx context.Context, extra *mcp.RequestExtra) (context.Context, func()) {
	if extra == nil || extra.TokenInfo == nil {
		return ctx, func() {}
	}
	rctx, ok := extra.TokenInfo.Extra[requestCtxKey].(context.Context)
	if !ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(rctx, func() { cancel(context.Cause(rctx)) })
	return ctx, func() { stop(); cancel(nil) }
}
