package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
)

// newObserve builds the event consumer (issue 10): one consumer per
// active session, its lease in the database so that several gateways on
// one PostgreSQL share the sessions. It reads Anthropic through the
// sessions' client, drives their lifecycle, judges confirmation requests
// with the tenant's policy and sends those that need a human to the
// approval queue. Open it before the sessions' Run re-attaches running
// sessions.
func newObserve(a *app, upstream *session.Upstream) *observe.Service {
	o := observe.New(sqlstore.NewObserveStore(a.db), observe.SessionUpstream{Upstream: upstream}, a.audit, a.log)
	o.AuditReader = a.audit.Store
	o.Lifecycle, o.Configs = a.sessions, a.agents
	o.Policy = a.policy
	o.Approvals = a.approvals
	o.Webhooks = a.webhooks
	o.SSETimeout = a.cfg.SSETimeout
	o.Retention = a.cfg.ObserveRetention
	return o
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
