package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/vargate/vargate/internal/policy"
)

// OPA is OPA's own HTTP server (v1/server) running in this process with
// Vargate's base policy: the policy sidecar of the design Vargate did not
// choose. A gateway started with VARGATE_POLICY_SIDECAR_URL=DecisionURL
// decides through it over loopback HTTP.
type OPA struct {
	// DecisionURL is the URL of the base policy's result document.
	DecisionURL string
	srv         *server.Server
	mgr         *plugins.Manager
}

// StartOPA starts the server on addr ("127.0.0.1:0" for any free port)
// and loads the base policy into it.
func StartOPA(ctx context.Context, addr string) (*OPA, error) {
	store := inmem.New()
	m, err := plugins.New([]byte("{}"), "vargate-bench", store, plugins.ConsoleLogger(logging.NewNoOpLogger()))
	if err != nil {
		return nil, fmt.Errorf("opa plugins: %w", err)
	}
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("opa plugins: %w", err)
	}
	srv, err := server.New().WithStore(store).WithManager(m).WithAddresses([]string{addr}).Init(ctx)
	if err != nil {
		m.Stop(ctx)
		return nil, fmt.Errorf("opa server: %w", err)
	}
	o := &OPA{srv: srv, mgr: m}
	loops, err := srv.Listeners()
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("opa server: %w", err)
	}
	for _, loop := range loops {
		go func() { _ = loop() }() // returns http.ErrServerClosed at Shutdown
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Addrs()) == 0 {
		if time.Now().After(deadline) {
			o.Close()
			return nil, fmt.Errorf("opa server did not start listening")
		}
		time.Sleep(time.Millisecond)
	}
	base := "http://" + srv.Addrs()[0]
	sources, err := policy.BaseSources()
	if err != nil {
		o.Close()
		return nil, err
	}
	for name, src := range sources {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/policies/"+url.PathEscape(name), bytes.NewReader([]byte(src)))
		if err != nil {
			o.Close()
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("load %s into opa: %w", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			o.Close()
			return nil, fmt.Errorf("load %s into opa: %s: %s", name, resp.Status, body)
		}
	}
	o.DecisionURL = base + "/v1/data/vargate/base/result"
	return o, nil
}

// Close stops the server.
func (o *OPA) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := o.srv.Shutdown(ctx)
	o.mgr.Stop(ctx)
	return err
}
