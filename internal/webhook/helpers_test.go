package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/webhook"
)

// auditor records audit records in memory.
type auditor struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *auditor) Append(_ context.Context, r audit.Record) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return r, nil
}

type env struct {
	db  *sqlstore.DB
	ten string
}

func newEnv(t testing.TB, db *sqlstore.DB) *env {
	t.Helper()
	ten, err := auth.NewService(sqlstore.NewAuthStore(db)).CreateTenant(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, ten: ten.ID}
}

// service returns an opened delivery service (a gateway) over the env's
// database with fast retries; private targets are allowed, as the test
// receivers listen on loopback.
func (e *env) service(t testing.TB) *webhook.Service {
	t.Helper()
	s := webhook.New(sqlstore.NewWebhookStore(e.db), vaulttest.NewSealer(), nil)
	s.AllowPrivate = true
	s.PollInterval = 10 * time.Millisecond
	s.BaseDelay, s.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	s.Timeout = 5 * time.Second
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func each(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db)) })
}

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is a test endpoint that can be down (answering 503).
type receiver struct {
	srv  *httptest.Server
	down atomic.Bool
	code atomic.Int32 // answer when up (204 if 0)
	mu   sync.Mutex
	more *sync.Cond // on mu: got grew
	got  []request
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.more = sync.NewCond(&r.mu)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, request{req.Header.Clone(), body})
		r.more.Broadcast()
		r.mu.Unlock()
		code := int(r.code.Load())
		if code == 0 {
			code = http.StatusNoContent
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// awaitRequests returns once the receiver has taken n requests.
func (r *receiver) awaitRequests(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.got) < n {
		r.more.Wait()
	}
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func asErr(err error, target **vargate.Error) bool { return errors.As(err, target) }
