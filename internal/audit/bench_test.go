package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// BenchmarkAppend measures durable appends per second through the
// group-commit Log: each Append returns only after its transaction has
// committed (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on).
//
//	go test ./internal/audit -run '^$' -bench Append -benchtime 5s
func BenchmarkAppend(b *testing.B) { benchmarkAppend(b, event) }

// BenchmarkAppendGoverned is BenchmarkAppend with the records a governed
// call writes, in the proportions of calls that run: each call's
// mcp_governed record (about 1.5 KB of canonical detail, the policy input,
// and a few hundred bytes of arguments) and its small mcp_outcome record.
//
//	go test ./internal/audit -run '^$' -bench AppendGoverned -benchtime 5s
func BenchmarkAppendGoverned(b *testing.B) { benchmarkAppend(b, governed) }

func benchmarkAppend(b *testing.B, record func(tenant string, i int) audit.Record) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", d, writers), func(b *testing.B) {
				db := storetest.Open(b, d)
				cs := &countingStore{Store: sqlstore.NewAuditStore(db)}
				l := audit.New(cs, newSigner(b))
				l.CheckpointInterval = -1
				if err := l.Open(); err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				for range writers {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := l.Append(ctx, record("t1", int(i))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
				b.ReportMetric(float64(b.N)/float64(cs.batches.Load()), "records/batch")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/append")
			})
		}
	}
}

// countingStore counts the store transactions (batches) Append makes.
type countingStore struct {
	audit.Store
	batches atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, recs []*audit.Record) error {
	s.batches.Add(1)
	return s.Store.Append(ctx, recs)
}

// BenchmarkVerify measures a full verification of one tenant's chain:
// streaming every record, re-hashing it, checking links, rebuilding the
// Merkle tree and comparing it with the signed checkpoints. The chain has
// VARGATE_BENCH_VERIFY_N records (default 100,000; the published figure
// uses 1,000,000).
//
//	VARGATE_BENCH_VERIFY_N=1000000 go test ./internal/audit -run '^$' -bench Verify -benchtime 3x
func BenchmarkVerify(b *testing.B) {
	n := 100_000
	if v := os.Getenv("VARGATE_BENCH_VERIFY_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	parent := b
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		// Filled on first use and kept open by the parent: the timed
		// sub-benchmark runs more than once.
		var l *audit.Log
		b.Run(fmt.Sprintf("%s/records=%d", d, n), func(b *testing.B) {
			if l == nil {
				db := storetest.Open(parent, d)
				l = openLog(parent, db, newSigner(parent))
				fill(b, nil, db, "t1", n, 10_000)
				if _, err := l.Checkpoint(context.Background(), "t1"); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
			}
			cpu0 := cpuTime()
			for range b.N {
				res, err := l.Verify(context.Background(), "t1")
				if err != nil || !res.Valid || res.RecordsChecked != int64(n) {
					b.Fatalf("verify = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/verify")
		})
	}
}

// cpuTime is the user and system CPU time this process has used: on a
// machine shared with other work it shows the cost that wall-clock rates
// blur. (The PostgreSQL server's own CPU is not in it.)
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordHash measures the canonical encoding plus SHA-256 alone.
func BenchmarkRecordHash(b *testing.B) {
	r := event("t1", 1)
	if err := r.Normalize(); err != nil {
		b.Fatal(err)
	}
	var h audit.Hash
	for b.Loop() {
		h = r.ComputeHash()
	}
	_ = h
}

// governed returns the i-th record of a stream of governed calls that
// ran: an mcp_governed record (even i) then the call's mcp_outcome
// record, shaped as internal/govern writes them.
func governed(tenant string, i int) audit.Record {
	call := i / 2
	at := time.Date(2026, 4, 11, 14, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	r := audit.Record{
		TenantID: tenant, Time: at, SessionID: fmt.Sprintf("sess-%d", call%32), AgentID: "agent-7",
		ActionID: fmt.Sprintf("6f1c2a9e-3b1d-4c55-9e0a-%012d", call), Tool: "crm.update_contact", Actor: "session:sess-7",
		ArgsDigest: fmt.Sprintf("jcs-sha256:%064x", call),
	}
	if i%2 == 1 {
		r.Source, r.Outcome = audit.SourceMCPOutcome, audit.OutcomeExecuted
		r.ResultDigest = fmt.Sprintf("sha256:%064x", call+1)
		r.Detail = json.RawMessage(fmt.Sprintf(`{"latency_us":{"connector":%d,"policy":%d,"total":%d}}`, 180+call%50, 95+call%7, 420+call%90))
		return r
	}
	r.Source, r.Outcome = audit.SourceMCPGoverned, audit.OutcomeExecuting
	r.Decision, r.PolicyVersion, r.DecisionID = "allow", "v12", fmt.Sprintf("dec-%d", call)
	r.ArgsRedacted = json.RawMessage(fmt.Sprintf(`{"contact_id":"c-%d","fields":{"company":"Acme Corp","email":"[REDACTED:email]",`+
		`"notes":"Met at the trade fair; follow up in two weeks about the renewal and the extra seats.",`+
		`"phone":"[REDACTED:phone]","stage":"negotiation","title":"Head of Procurement"},"notify_owner":true,"tags":["q3","renewal","priority"]}`, call))
	r.Detail = json.RawMessage(fmt.Sprintf(`{"input":{"agent":{"allowed_tools":["calendar.create_event","calendar.list_events",`+
		`"crm.create_contact","crm.get_contact","crm.search_contacts","crm.update_contact","docs.get_document","docs.search",`+
		`"email.draft","email.send","files.list","files.read","payments.refund","payments.transfer","reports.generate","reports.schedule","slack.post_message","slack.read_channel",`+
		`"tickets.comment","tickets.create","tickets.update",`+
		`"warehouse.query","warehouse.export","wiki.get_page","wiki.search","zendesk.create_ticket","zendesk.update_ticket"],"delegation":{"depth":0,"max_depth":2},`+
		`"governance_profile":{"pii_detection":true,"risk_level":"medium"},"id":"agent-7","require_human_approval":`+
		`["payments.refund","payments.transfer"]},"call":{"annotations":{"destructive_hint":false,"idempotent_hint":true,`+
		`"open_world_hint":true,"read_only_hint":false},"arguments":null,"arguments_digest":"jcs-sha256:%064x",`+
		`"tool":"crm.update_contact","upstream":"crm"},"pii":[{"detector":"regex","field":"email","kind":"email",`+
		`"path":"/fields/email"},{"detector":"regex","field":"notes","kind":"person_name","path":"/fields/notes"},`+
		`{"detector":"regex","field":"phone","kind":"phone","path":"/fields/phone"}],`+
		`"session":{"age_seconds":%d.25,"anomaly_score":0.125,"calls":%d,"denials":1,"id":"sess-%d"},`+
		`"tenant":{"id":"%s"},"time":"%s"},"latency_us":{"connector":0,"policy":%d,"total":%d}}`,
		call, 30+call%600, call%400, call%32, tenant, at.Format(time.RFC3339Nano), 95+call%7, 240+call%60))
	return r
}

// BenchmarkNormalize measures Normalize of a governed call's records (its
// mcp_governed record and its mcp_outcome record), as Append runs it.
func BenchmarkNormalize(b *testing.B) {
	recs := []audit.Record{governed("t1", 0), governed("t1", 1)}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		r := recs[i%2]
		if err := r.Normalize(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkSeal measures sealing a batch of 32 governed records (hash,
// chain link, Merkle range), as the store does for each batch.
func BenchmarkSeal(b *testing.B) {
	recs := make([]*audit.Record, 32)
	for i := range recs {
		r := governed("t1", i)
		if err := r.Normalize(); err != nil {
			b.Fatal(err)
		}
		recs[i] = &r
	}
	head := audit.Head{TenantID: "t1"}
	b.ReportAllocs()
	cpu0 := cpuTime()
	// The store seals a tenant's batch with SealAll where there is one.
	all, batched := any(&head).(interface {
		SealAll([]*audit.Record) ([]audit.Node, error)
	})
	for b.Loop() {
		if batched {
			if _, err := all.SealAll(recs); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for _, r := range recs {
			if _, err := head.Seal(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*len(recs)), "cpu-ns/record")
}
