package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/sqlstore"
)

// newObserve builds the event consumer (issue 10): one consumer per
// active session, its lease in the database so that several gateways on
// one PostgreSQL share the sessions, replacing the session package's
// minimal stream observer. It reads Anthropic through the sessions'
// client factory, drives their lifecycle, judges confirmation requests
// with the tenant's policy and sends those that need a human to the
// approval queue (set Approvals once it exists). Open it before the
// sessions' Run re-attaches running sessions.
func newObserve(a *app, log *slog.Logger) *observe.Service {
	o := observe.New(sqlstore.NewObserveStore(a.db), observe.SessionUpstream{Upstream: a.sessions.Upstream}, a.audit, log)
	o.AuditReader = a.audit.Store
	o.Lifecycle, o.Configs = a.sessions, a.agents
	o.Policy = a.policy
	o.Webhooks = a.webhooks
	o.SSETimeout = a.cfg.SSETimeout
	o.Retention = a.cfg.ObserveRetention
	return o
}

// approvalRouter sends the approval queue's escalated confirmations of
// built-in tool calls to the event consumer, and every other action to
// the governor (execution) and the sessions (settlement messages).
type approvalRouter struct {
	observe  *observe.Service
	executor approval.Executor
	notifier approval.SessionNotifier
}

// ExecuteApproved implements approval.Executor.
func (r approvalRouter) ExecuteApproved(ctx context.Context, a approval.Action) (json.RawMessage, error) {
	if r.observe.Owns(ctx, a) {
		return r.observe.ExecuteApproved(ctx, a)
	}
	return r.executor.ExecuteApproved(ctx, a)
}

// ActionSettled implements approval.SessionNotifier.
func (r approvalRouter) ActionSettled(ctx context.Context, a approval.Action) error {
	if r.observe.Owns(ctx, a) {
		return r.observe.ActionSettled(ctx, a)
	}
	if r.notifier == nil {
		return nil
	}
	return r.notifier.ActionSettled(ctx, a)
}

// observeCollector exports the event consumer's counters at /metrics.
type observeCollector struct{ svc *observe.Service }

var observeMetrics = []struct {
	desc  *prometheus.Desc
	value func(observe.Stats) int64
}{
	{prometheus.NewDesc("vargate_observe_connections_total", "Event stream connections opened by this gateway's consumers (first and reconnects).", nil, nil),
		func(s observe.Stats) int64 { return s.Connections }},
	{prometheus.NewDesc("vargate_observe_events_total", "Session events stored by this gateway's consumers.", nil, nil),
		func(s observe.Stats) int64 { return s.Events }},
	{prometheus.NewDesc("vargate_observe_duplicate_events_total", "Session events dropped as already stored (redelivered or cross-posted).", nil, nil),
		func(s observe.Stats) int64 { return s.Duplicates }},
	{prometheus.NewDesc("vargate_observe_tool_calls_total", "Built-in tool calls audited as mcp_observed records.", nil, nil),
		func(s observe.Stats) int64 { return s.Observed }},
	{prometheus.NewDesc("vargate_observe_decisions_total", "Confirmation requests of governed built-in tools answered or escalated.", nil, nil),
		func(s observe.Stats) int64 { return s.Decisions }},
	{prometheus.NewDesc("vargate_observe_poison_events_total", "Session events dead-lettered (unreadable, or their record refused by the trail); the stream moved on.", nil, nil),
		func(s observe.Stats) int64 { return s.Poison }},
}

var observeLatencyDesc = prometheus.NewDesc("vargate_observe_event_latency_seconds",
	"Time from a session event's processed_at (Anthropic's clock) to its record in this gateway's store.", nil, nil)

func (c observeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range observeMetrics {
		ch <- m.desc
	}
	ch <- observeLatencyDesc
}

func (c observeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.svc.Stats()
	for _, m := range observeMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value(st)))
	}
	buckets := make(map[float64]uint64, len(observe.LatencyBuckets))
	var cum uint64
	for i, le := range observe.LatencyBuckets {
		cum += st.Latency.Counts[i]
		buckets[le] = cum
	}
	ch <- prometheus.MustNewConstHistogram(observeLatencyDesc, st.Latency.Count, st.Latency.Sum, buckets)
}
