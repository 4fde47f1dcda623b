package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/loadgen"
	"github.com/vargate/vargate/internal/postgres"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

var (
	soakFor    = flag.Duration("soak", 0, "run TestSoak with this much load per store (e.g. 10m); 0 skips it")
	soakRate   = flag.Float64("soak.rate", 100, "TestSoak: governed calls per second")
	soakStores = flag.String("soak.stores", "sqlite,postgres", "TestSoak: stores to soak")
	soakReport = flag.String("soak.report", "", "TestSoak: append the report (markdown) to this file")
)

// TestSoak runs the real gateway binary under a sustained mixed load
// (allowed, denied and approval-needing calls; a human approving and
// rejecting the queued ones; a webhook receiver) for -soak per store.
// Along the way it kills the gateway with SIGKILL and starts it again,
// and on PostgreSQL restarts the database server. At the end:
//
//   - every call that got an answer has exactly one mcp_governed audit
//     record, and the tenant's chain verifies;
//   - every queued action is in the queue once, every decided one reached
//     its final state once, and each approved one ran at most once;
//   - every webhook event of an answered call or a decision was emitted
//     once (one message ID) and delivered;
//   - memory, goroutines and open files of each gateway process stayed
//     flat (compared between the first and the last third of its life).
//
// It measures and kills processes, so it runs only when asked:
//
//	go test ./cmd/vargate -run TestSoak -soak=10m -timeout 60m -v
//
// PostgreSQL is restarted with pg_ctlcluster (as root, on the local
// cluster): never in CI.
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("set -soak=10m to run the soak test")
	}
	bin := filepath.Join(t.TempDir(), "vargate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, store := range strings.Split(*soakStores, ",") {
		t.Run(store, func(t *testing.T) { soak(t, bin, store, *soakFor) })
	}
}

// soakState is what the load, the approver and the webhook receiver saw.
type soakState struct {
	mu sync.Mutex
	// answered: action ID → outcome of every call that got a tool result.
	answered map[string]loadgen.Outcome
	// toDecide are queued actions not decided yet, in the order seen.
	toDecide []string
	// approved and rejected are the decisions that got an answer.
	approved, rejected map[string]bool
	// deliveries: event → action ID → webhook-id → deliveries.
	deliveries map[string]map[string]map[string]int
	samples    []soakSample
	errorsBy   map[string]int
	events     []string
}

type soakSample struct {
	at         time.Duration
	generation int
	rss        float64
	goroutines float64
	fds        float64
}

func (s *soakState) logEvent(start time.Time, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, fmt.Sprintf("%6.1fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
}

func soak(t *testing.T, bin, store string, dur time.Duration) {
	ctx := t.Context()
	dir := t.TempDir()
	env := map[string]string{
		"VARGATE_BENCH_TOOLS": "true", "VARGATE_ALLOW_PRIVATE_TARGETS": "true", "VARGATE_WEBHOOK_ALLOW_PRIVATE": "true",
	}
	var dsn string
	switch store {
	case "sqlite":
	case "postgres":
		var drop func() error
		var err error
		server := strings.Replace(storetest.PostgresDSN(), "/test?", "/postgres?", 1)
		dsn, drop, err = createDatabase(ctx, server, "vargate_soak_"+strconv.FormatInt(time.Now().UnixNano()%1e9, 10))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := drop(); err != nil {
				t.Logf("drop soak database: %v", err)
			}
		})
		env["DATABASE_URL"] = dsn
	default:
		t.Fatalf("unknown store %q", store)
	}
	listen := freeAddr(t)
	proc, err := startGatewayProc(ctx, bin, dir, listen, env)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := proc.Stop(); err != nil {
			t.Logf("gateway exit: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway stderr (tail):\n%s", proc.Stderr.Tail(8000))
		}
	}()
	if proc.AdminKey == "" {
		t.Fatalf("no bootstrap admin key:\n%s", proc.Stderr.Tail(4000))
	}
	admin := &loadgen.Admin{URL: proc.URL, Key: proc.AdminKey, Client: &http.Client{Timeout: 30 * time.Second}}

	st := &soakState{answered: map[string]loadgen.Outcome{}, approved: map[string]bool{}, rejected: map[string]bool{},
		deliveries: map[string]map[string]map[string]int{}, errorsBy: map[string]int{}}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Type string `json:"type"`
			Data struct {
				ActionID string `json:"action_id"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err == nil {
			st.mu.Lock()
			byAction := st.deliveries[p.Type]
			if byAction == nil {
				byAction = map[string]map[string]int{}
				st.deliveries[p.Type] = byAction
			}
			if byAction[p.Data.ActionID] == nil {
				byAction[p.Data.ActionID] = map[string]int{}
			}
			byAction[p.Data.ActionID][r.Header.Get("webhook-id")]++
			st.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hooks.Close()
	events := []string{"action.denied", "action.pending_approval", "action.approved", "action.rejected", "action.executed"}
	if err := admin.Do(ctx, http.MethodPatch, "/dashboard/settings", map[string]any{
		"webhook_url": hooks.URL, "webhook_events": events,
	}, nil); err != nil {
		t.Fatal(err)
	}
	echo, err := loadgen.StartEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	fix, err := loadgen.Setup(ctx, loadgen.SetupOptions{URL: proc.URL, AdminKey: proc.AdminKey, EchoURL: echo.URL})
	if err != nil {
		t.Fatal(err)
	}
	mix, err := fix.Mix(80, 10, 10)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	loadDone := make(chan *loadgen.Report, 1)
	go func() {
		rep, err := loadgen.Run(ctx, loadgen.Options{
			Target: fix.Target("soak"), Mix: mix, Concurrency: 16, Rate: *soakRate, Duration: dur,
			CallTimeout: 20 * time.Second,
			OnResult: func(r loadgen.Result) {
				st.mu.Lock()
				defer st.mu.Unlock()
				if r.Outcome == loadgen.OutcomeError {
					st.errorsBy[errorClass(r.Err)]++
					return
				}
				st.answered[r.ActionID] = r.Outcome
				if r.Outcome == loadgen.OutcomePending {
					st.toDecide = append(st.toDecide, r.ActionID)
				}
			},
		})
		if err != nil {
			t.Errorf("load: %v", err)
		}
		loadDone <- rep
	}()

	stopSide := make(chan struct{})
	var side sync.WaitGroup
	generation := 0
	var genMu sync.Mutex
	side.Go(func() { approver(ctx, admin, st, stopSide) })
	side.Go(func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSide:
				return
			case <-tick.C:
			}
			m, err := scrapeMetrics(ctx, admin)
			if err != nil {
				continue // the gateway is down for a moment
			}
			genMu.Lock()
			g := generation
			genMu.Unlock()
			st.mu.Lock()
			st.samples = append(st.samples, soakSample{at: time.Since(start), generation: g,
				rss: m["process_resident_memory_bytes"], goroutines: m["go_goroutines"], fds: m["process_open_fds"]})
			st.mu.Unlock()
		}
	})

	// The faults: SIGKILL and restart at a third; at two thirds, restart
	// PostgreSQL (or kill the gateway again on SQLite).
	restart := func(why string) {
		st.logEvent(start, "SIGKILL gateway (pid %d): %s", proc.PID(), why)
		if err := proc.Kill(); err != nil {
			t.Errorf("kill: %v", err)
		}
		genMu.Lock()
		generation++
		genMu.Unlock()
		time.Sleep(time.Second) // the outage is the fault injected, not a wait
		t0 := time.Now()
		if err := proc.Start(ctx); err != nil {
			t.Fatalf("restart after SIGKILL: %v", err)
		}
		st.logEvent(start, "gateway serving again after %.1fs (pid %d)", time.Since(t0).Seconds(), proc.PID())
	}
	sleepUntil(ctx, start.Add(dur/3))
	restart("fault 1")
	sleepUntil(ctx, start.Add(2*dur/3))
	if store == "postgres" {
		st.logEvent(start, "restart PostgreSQL")
		t0 := time.Now()
		if out, err := restartPostgres(); err != nil {
			t.Errorf("restart PostgreSQL: %v\n%s", err, out)
		}
		st.logEvent(start, "PostgreSQL restarted in %.1fs", time.Since(t0).Seconds())
	} else {
		restart("fault 2")
	}
	rep := <-loadDone
	st.logEvent(start, "load finished")

	// Let the approver decide what is left, the approved actions run and
	// the outbox drain. An action that was executing when the gateway
	// was killed is failed by the sweeper once its lease (execute timeout
	// + slack, 2.5 min) has run out: wait for that too.
	db := openSoakDB(t, store, dsn, filepath.Join(dir, "data", "vargate.db"))
	settleUntil := time.Now().Add(4 * time.Minute)
	for {
		st.mu.Lock()
		left := len(st.toDecide)
		st.mu.Unlock()
		pending, err := pendingDeliveries(ctx, admin)
		var unfinished int
		qerr := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE status IN ('approved', 'executing')`).Scan(&unfinished)
		if left == 0 && err == nil && pending == 0 && qerr == nil && unfinished == 0 {
			break
		}
		if time.Now().After(settleUntil) {
			t.Errorf("not settled after 4 minutes: %d undecided, %d deliveries pending (%v), %d approved actions not final (%v)",
				left, pending, err, unfinished, qerr)
			break
		}
		time.Sleep(time.Second) // settling takes minutes; a slow poll keeps its load off the soak's numbers
	}
	close(stopSide)
	side.Wait()
	st.logEvent(start, "settled")
	checks := checkSoak(t, ctx, db, admin, fix, st)

	report := soakReportText(store, dur, rep, st, checks)
	t.Log("\n" + report)
	if *soakReport != "" {
		f, err := os.OpenFile(*soakReport, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, _ = f.WriteString(report + "\n")
			f.Close()
		}
	}
}

// approver decides queued actions as a human would: every few seconds it
// approves half of those seen so far and rejects the other half. A
// decision whose answer was lost (the gateway died) is asked again; a
// conflict then means the first one went through.
func approver(ctx context.Context, admin *loadgen.Admin, st *soakState, stop <-chan struct{}) {
	n := 0
	for {
		select {
		case <-stop:
			return
		case <-time.After(2 * time.Second):
		}
		st.mu.Lock()
		batch := slices.Clone(st.toDecide)
		st.mu.Unlock()
		var done []string
		for _, id := range batch {
			approve := n%2 == 0
			path := "/reject/" + id
			if approve {
				path = "/approve/" + id
			}
			err := admin.Do(ctx, http.MethodPost, path, map[string]string{"reason": "soak"}, nil)
			var se *loadgen.StatusError
			if errors.As(err, &se) && se.Status == http.StatusConflict {
				// Decided already (an earlier try got through): read it.
				var a struct {
					Status string `json:"status"`
				}
				if gerr := admin.Do(ctx, http.MethodGet, "/approvals/"+id, nil, &a); gerr != nil {
					continue
				}
				approve = a.Status != "rejected"
				err = nil
			}
			if err != nil {
				continue // try again next round
			}
			n++
			st.mu.Lock()
			if approve {
				st.approved[id] = true
			} else {
				st.rejected[id] = true
			}
			st.mu.Unlock()
			done = append(done, id)
		}
		st.mu.Lock()
		st.toDecide = slices.DeleteFunc(st.toDecide, func(id string) bool { return slices.Contains(done, id) })
		st.mu.Unlock()
	}
}

// soakChecks are the end-of-run findings.
type soakChecks struct {
	answered, auditMissing, auditDoubled       int
	queued, queueMissing                       int
	approvedRan, approvedNotFinal, ranTwice    int
	rejectedOK, rejectedWrong                  int
	approvalEventsUnaudited, approvalAuditDups int
	hooksExpected, hooksLost, hooksDoubled     int
	hookRedeliveries                           int
	chainValid                                 bool
	chainRecords                               int64
	resources                                  []string
}

func checkSoak(t *testing.T, ctx context.Context, db *sql.DB, admin *loadgen.Admin, fix *loadgen.Fixture, st *soakState) soakChecks {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	var c soakChecks

	// Audit: one mcp_governed record per answered call; approval events
	// audited; the chain verifies.
	governed := map[string]int{}
	approvalRecs := map[string]map[string]int{} // action → event_id → records
	rows, err := db.QueryContext(ctx, `SELECT action_id, source, decision, COALESCE(detail, '') FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var action, source, decision, detail string
		if err := rows.Scan(&action, &source, &decision, &detail); err != nil {
			t.Fatal(err)
		}
		switch source {
		case "mcp_governed":
			governed[action]++
		case "approval":
			var d struct {
				EventID string `json:"event_id"`
			}
			_ = json.Unmarshal([]byte(detail), &d)
			if approvalRecs[action] == nil {
				approvalRecs[action] = map[string]int{}
			}
			approvalRecs[action][d.EventID]++
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	c.answered = len(st.answered)
	for id := range st.answered {
		switch governed[id] {
		case 0:
			c.auditMissing++
			if c.auditMissing <= 5 {
				t.Errorf("answered call %s (%s) has no audit record", id, st.answered[id])
			}
		case 1:
		default:
			c.auditDoubled++
			t.Errorf("answered call %s has %d audit records", id, governed[id])
		}
	}

	// Approvals: the queue holds each queued action once; decided ones
	// reached their final state; approved ones ran once.
	status := map[string]string{}
	rows, err = db.QueryContext(ctx, `SELECT id, status FROM approvals`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, s string
		if err := rows.Scan(&id, &s); err != nil {
			t.Fatal(err)
		}
		status[id] = s
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	transitions := map[string]map[string]int{} // action → to_status → events
	var eventsUnaudited int
	rows, err = db.QueryContext(ctx, `SELECT action_id, to_status, id, audited_at IS NULL FROM approval_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var action, to, evID string
		var unaudited bool
		if err := rows.Scan(&action, &to, &evID, &unaudited); err != nil {
			t.Fatal(err)
		}
		if transitions[action] == nil {
			transitions[action] = map[string]int{}
		}
		transitions[action][to]++
		// A queued action's first state is audited by its mcp_governed
		// record; every later change by an approval record.
		if to != "pending" && (unaudited || approvalRecs[action][evID] == 0) {
			eventsUnaudited++
		}
		if approvalRecs[action][evID] > 1 {
			c.approvalAuditDups++
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	c.approvalEventsUnaudited = eventsUnaudited
	for id, o := range st.answered {
		if o != loadgen.OutcomePending {
			continue
		}
		c.queued++
		if _, ok := status[id]; !ok {
			c.queueMissing++
			t.Errorf("queued action %s is not in the approval queue", id)
		}
	}
	for id := range st.approved {
		tr := transitions[id]
		switch {
		case tr["executed"]+tr["failed"] > 1 || tr["executing"] > 1:
			c.ranTwice++
			t.Errorf("approved action %s ran more than once: %v", id, tr)
		case status[id] == "executed" || status[id] == "failed":
			c.approvedRan++
		default:
			c.approvedNotFinal++
			t.Errorf("approved action %s is %q, not executed", id, status[id])
		}
	}
	for id := range st.rejected {
		if status[id] == "rejected" && transitions[id]["rejected"] == 1 {
			c.rejectedOK++
		} else {
			c.rejectedWrong++
			t.Errorf("rejected action %s is %q (%v)", id, status[id], transitions[id])
		}
	}
	if c.approvalEventsUnaudited > 0 {
		t.Errorf("%d approval state changes have no audit record", c.approvalEventsUnaudited)
	}

	// Webhooks: one message per event of an answered call or decision,
	// delivered at least once.
	want := map[string][]string{} // event → action IDs
	for id, o := range st.answered {
		switch o {
		case loadgen.OutcomeDenied:
			want["action.denied"] = append(want["action.denied"], id)
		case loadgen.OutcomePending:
			want["action.pending_approval"] = append(want["action.pending_approval"], id)
		}
	}
	for id := range st.approved {
		want["action.approved"] = append(want["action.approved"], id)
		want["action.executed"] = append(want["action.executed"], id)
	}
	for id := range st.rejected {
		want["action.rejected"] = append(want["action.rejected"], id)
	}
	for ev, ids := range want {
		for _, id := range ids {
			c.hooksExpected++
			got := st.deliveries[ev][id]
			switch {
			case len(got) == 0:
				c.hooksLost++
				if c.hooksLost <= 5 {
					t.Errorf("webhook %s for %s never arrived", ev, id)
				}
			case len(got) > 1:
				c.hooksDoubled++
				t.Errorf("webhook %s for %s came as %d messages", ev, id, len(got))
			}
			for _, n := range got {
				c.hookRedeliveries += n - 1
			}
		}
	}

	var v struct {
		Valid          bool  `json:"valid"`
		RecordsChecked int64 `json:"records_checked"`
	}
	if err := admin.Do(ctx, http.MethodGet, "/audit/verify", nil, &v); err != nil {
		t.Errorf("verify: %v", err)
	}
	c.chainValid, c.chainRecords = v.Valid, v.RecordsChecked
	if !v.Valid {
		t.Errorf("the audit chain does not verify: %+v", v)
	}
	c.resources = checkFlat(t, st.samples)
	return c
}

// checkFlat compares, for each gateway process that lived long enough,
// the first and the last third of its samples: resident memory may grow
// by at most half (plus 32 MB of slack for caches filling), goroutines by
// 50, open files by 20.
func checkFlat(t *testing.T, samples []soakSample) []string {
	var out []string
	byGen := map[int][]soakSample{}
	for _, s := range samples {
		byGen[s.generation] = append(byGen[s.generation], s)
	}
	for g := 0; g < len(byGen)+1; g++ {
		ss := byGen[g]
		if len(ss) < 9 {
			continue
		}
		third := len(ss) / 3
		first, last := ss[:third], ss[len(ss)-third:]
		med := func(xs []soakSample, f func(soakSample) float64) float64 {
			v := make([]float64, len(xs))
			for i, x := range xs {
				v[i] = f(x)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		rss0, rss1 := med(first, func(s soakSample) float64 { return s.rss }), med(last, func(s soakSample) float64 { return s.rss })
		gr0, gr1 := med(first, func(s soakSample) float64 { return s.goroutines }), med(last, func(s soakSample) float64 { return s.goroutines })
		fd0, fd1 := med(first, func(s soakSample) float64 { return s.fds }), med(last, func(s soakSample) float64 { return s.fds })
		out = append(out, fmt.Sprintf("process %d (%d samples, %.0f–%.0fs): RSS %.0f → %.0f MB, goroutines %.0f → %.0f, open files %.0f → %.0f",
			g+1, len(ss), ss[0].at.Seconds(), ss[len(ss)-1].at.Seconds(), rss0/1e6, rss1/1e6, gr0, gr1, fd0, fd1))
		if rss1 > rss0*1.5+32e6 {
			t.Errorf("process %d: resident memory grew from %.0f to %.0f MB", g+1, rss0/1e6, rss1/1e6)
		}
		if gr1 > gr0+50 {
			t.Errorf("process %d: goroutines grew from %.0f to %.0f", g+1, gr0, gr1)
		}
		if fd1 > fd0+20 {
			t.Errorf("process %d: open files grew from %.0f to %.0f", g+1, fd0, fd1)
		}
	}
	return out
}

func soakReportText(store string, dur time.Duration, rep *loadgen.Report, st *soakState, c soakChecks) string {
	var b strings.Builder
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(&b, "#### Soak: %s, %v at %.0f calls/s (measured %s, load average %s)\n\n", store, dur, *soakRate,
		time.Now().UTC().Format("2006-01-02 15:04 MST"), loadAvgText())
	if rep != nil {
		fmt.Fprintf(&b, "- load: %d calls, %d answered (%.0f/s), %d without an answer; latency of answered calls (from intended start) p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.0f ms\n",
			rep.Calls, rep.Calls-rep.Errors, rep.Throughput(), rep.Errors, ms(rep.Latency.Quantile(0.5)), ms(rep.Latency.Quantile(0.99)),
			ms(rep.Latency.Quantile(0.999)), ms(rep.Latency.Max()))
		fmt.Fprintf(&b, "- outcomes: %v; calls without an answer by cause: %v\n", rep.Outcomes, st.errorsBy)
	}
	for _, e := range st.events {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	fmt.Fprintf(&b, "- audit: %d answered calls, %d without their record, %d with more than one; chain verifies: %v (%d records)\n",
		c.answered, c.auditMissing, c.auditDoubled, c.chainValid, c.chainRecords)
	fmt.Fprintf(&b, "- approvals: %d queued, %d missing from the queue; %d approved and run, %d approved but not final, %d ran twice; %d rejected correctly, %d wrong; approval state changes without an audit record: %d, with two: %d\n",
		c.queued, c.queueMissing, c.approvedRan, c.approvedNotFinal, c.ranTwice, c.rejectedOK, c.rejectedWrong, c.approvalEventsUnaudited, c.approvalAuditDups)
	fmt.Fprintf(&b, "- webhooks: %d expected, %d lost, %d doubled (two message IDs); %d redeliveries of a message (at-least-once)\n",
		c.hooksExpected, c.hooksLost, c.hooksDoubled, c.hookRedeliveries)
	for _, r := range c.resources {
		fmt.Fprintf(&b, "- %s\n", r)
	}
	return b.String()
}

func loadAvgText() string {
	la := loadAverage()
	s := make([]string, len(la))
	for i, v := range la {
		s[i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strings.Join(s, " ")
}

// errorClass shortens a transport error to its kind, for the report.
func errorClass(err error) string {
	if err == nil {
		return "unknown"
	}
	msg := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "EOF", "deadline exceeded", "JSON-RPC error", "500", "503"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}

func scrapeMetrics(ctx context.Context, admin *loadgen.Admin) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", admin.Key)
	resp, err := admin.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func pendingDeliveries(ctx context.Context, admin *loadgen.Admin) (int, error) {
	var l struct {
		Count int `json:"count"`
	}
	err := admin.Do(ctx, http.MethodGet, "/webhooks/deliveries?status=pending&limit=1", nil, &l)
	return l.Count, err
}

func openSoakDB(t *testing.T, store, dsn, sqlitePath string) *sql.DB {
	t.Helper()
	var db *sqlstore.DB
	var err error
	if store == "postgres" {
		db, err = postgres.Open(t.Context(), dsn)
	} else {
		db, err = sqlite.Open(t.Context(), sqlitePath)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Read
}

func restartPostgres() ([]byte, error) {
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("no local PostgreSQL cluster in /etc/postgresql: %v", err)
	}
	return exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", "restart").CombinedOutput()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func sleepUntil(ctx context.Context, at time.Time) {
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
	}
}
