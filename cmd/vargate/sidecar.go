package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/loadgen"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// sidecarDecider decides governed calls through an OPA server's decision
// URL over HTTP: the sidecar design of Vargate's prototype, kept only as
// the comparison mode of `vargate bench` (VARGATE_POLICY_SIDECAR_URL). It
// evaluates the base policy the sidecar was loaded with; tenant policy
// versions do not apply. Like the embedded engine it fails closed: when
// no decision comes back, the call is denied.
type sidecarDecider struct {
	url     string
	client  *http.Client
	timeout time.Duration
}

func newSidecarDecider(url string) *sidecarDecider {
	return &sidecarDecider{url: url, timeout: policy.DefaultTimeout, client: &http.Client{Transport: &http.Transport{
		Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}}
}

// Decide implements govern.Decider.
func (s *sidecarDecider) Decide(ctx context.Context, in *policy.Input) (policy.Decision, error) {
	if in.Time.IsZero() {
		in.Time = time.Now().UTC()
	}
	d := policy.Decision{PolicyVersion: policy.BaseLabel, DecisionID: vargate.NewID("dec_", 12)}
	fail := func(err error) (policy.Decision, error) {
		d.Decision, d.Reasons = policy.Deny, []string{"policy_error: the policy sidecar gave no decision"}
		return d, fmt.Errorf("policy sidecar: %w", err)
	}
	body, err := json.Marshal(struct {
		Input *policy.Input `json:"input"`
	}{in})
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("%s: %s", resp.Status, raw))
	}
	var out struct {
		Result *struct {
			Deny            []string `json:"deny"`
			RequireApproval []string `json:"require_approval"`
		} `json:"result"`
		DecisionID string `json:"decision_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fail(err)
	}
	if out.Result == nil {
		return fail(fmt.Errorf("no result (is the base policy loaded?)"))
	}
	if out.DecisionID != "" {
		d.DecisionID = out.DecisionID
	}
	switch {
	case len(out.Result.Deny) > 0:
		d.Decision, d.Reasons = policy.Deny, slices.Sorted(slices.Values(out.Result.Deny))
	case len(out.Result.RequireApproval) > 0:
		d.Decision, d.Reasons = policy.RequireApproval, slices.Sorted(slices.Values(out.Result.RequireApproval))
	default:
		d.Decision, d.Reasons = policy.Allow, []string{}
	}
	return d, nil
}

// noopTool is vargate_noop, offered with VARGATE_BENCH_TOOLS=true: it
// answers {"ok":true} at once, so that a load test measures governance
// and not a connector.
func noopTool() (*tools.Tool, error) {
	var schema jsonschema.Schema
	if err := json.Unmarshal([]byte(loadgen.NoopSchema), &schema); err != nil {
		return nil, err
	}
	return tools.NewTool(tools.Tool{
		Name: loadgen.NoopTool, Title: "No-op", ReadOnly: true, Schema: &schema,
		Description: "Does nothing and answers {\"ok\":true} (load tests only).",
		Connector: tools.ConnectorFunc(func(context.Context, *tools.Call) (tools.Result, error) {
			return tools.Result{Structured: json.RawMessage(`{"ok":true}`)}, nil
		}),
	})
}
