package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/loadgen"
)

const benchHelp = `Drives tools/call through the MCP endpoint of a gateway with many
concurrent MCP clients — a mix of allowed, denied and approval-needing
calls of no-op tools — and reports throughput and latency percentiles.

With --url and --api-key (an admin key) it drives that gateway: it declares
its own tenant tools, agent configuration and agent key (vargate-bench-…,
removed at the end; queued approvals stay until they expire). The gateway
needs VARGATE_BENCH_TOOLS=true (the no-op built-in vargate_noop) or
VARGATE_ALLOW_PRIVATE_TARGETS=true (then the allowed call goes to a no-op
HTTP server this command runs on 127.0.0.1). Without --url it starts a
gateway of its own from this binary (--store; PostgreSQL databases it makes
are dropped at the end).

Closed loop by default (--concurrency clients, each sending its next call
when the last is answered). With --rate, calls start at that rate whatever
the answers do, and latency runs from each call's intended start
(coordinated omission corrected).

--compare (both by default) also drives, in turn with the same mix
(--rounds times each):
  bare     the MCP SDK's own server with the same tools and no governance
           (the floor: what MCP itself costs), in this process;
  sidecar  a gateway started from this binary on --store (with --url,
           name the kind of store that gateway uses), deciding through
           OPA's own server (run in this process, over loopback HTTP)
           instead of the embedded engine (VARGATE_POLICY_SIDECAR_URL).
  upstream (not by default) an MCP server with one no-op tool, run in
           this process and declared on the gateway as an upstream
           (/mcp/upstreams): its tool called directly (upstream-direct)
           and through the gateway (upstream), allowed calls only; the
           difference is what governing a third-party server adds. The
           gateway must reach loopback (one started here does; one at
           --url needs VARGATE_ALLOW_PRIVATE_TARGETS=true).
and prints the ratios. Everything shares this machine's CPUs: note the
load average printed with the figures.`

// benchOptions are the flags of vargate bench.
type benchOptions struct {
	url, apiKey string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	rate        float64
	mix         [3]int // allowed, denied, approval
	compare     []string
	store       string
	databaseURL string
	json        bool
	rounds      int
}

func runBench(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "bench [--url URL --api-key ADMIN_KEY] [flags]", benchHelp)
	var o benchOptions
	var mix, compare string
	fs.StringVar(&o.url, "url", "", "gateway to drive (http://host:port); empty: start one")
	fs.StringVar(&o.apiKey, "api-key", env.getenv("VARGATE_API_KEY"), "admin API key of the gateway at --url (env VARGATE_API_KEY)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per target")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before it")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent MCP clients")
	fs.Float64Var(&o.rate, "rate", 0, "calls per second (open loop); 0: closed loop")
	fs.StringVar(&mix, "mix", "allowed=80,denied=10,approval=10", "shares of the three kinds of call")
	fs.StringVar(&compare, "compare", "bare,sidecar", "comma-separated comparison targets: bare, sidecar, upstream; none for the gateway alone")
	fs.StringVar(&o.store, "store", "sqlite", "store of the gateways this command starts: sqlite or postgres")
	fs.StringVar(&o.databaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for --store postgres (a fresh database is made on it per gateway and dropped at the end)")
	fs.BoolVar(&o.json, "json", false, "print the figures as one JSON object")
	fs.IntVar(&o.rounds, "rounds", 1, "measure every target this many times, in turn, and report each one's run of median throughput")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	var err error
	if o.mix, err = parseMix(mix); err != nil {
		return fmt.Errorf("--mix: %w", err)
	}
	for _, c := range strings.Split(compare, ",") {
		switch c = strings.TrimSpace(c); c {
		case "", "none":
		case "bare", "sidecar", "upstream":
			o.compare = append(o.compare, c)
		default:
			return fmt.Errorf("--compare: unknown target %q (want bare, sidecar, upstream)", c)
		}
	}
	switch {
	case o.url != "" && o.apiKey == "":
		return errors.New("--url needs --api-key (an admin key of that gateway)")
	case o.store != "sqlite" && o.store != "postgres":
		return fmt.Errorf("--store: want sqlite or postgres, not %q", o.store)
	case o.concurrency < 1 || o.duration <= 0 || o.rate < 0 || o.rounds < 1:
		return errors.New("--concurrency, --duration, --rounds and --rate must be positive")
	}
	if env.getenv("GOGC") == "" {
		// The bare server and the OPA sidecar run in this process: give
		// them the gateway's GC target, so that the comparison is of the
		// code and not of the GC setting.
		debug.SetGCPercent(gcPercent)
	}
	rep, err := bench(ctx, env, o)
	if rep == nil {
		return err
	}
	if o.json {
		if perr := printJSON(env.stdout, rep); perr != nil {
			return perr
		}
	} else {
		rep.print(env.stdout)
	}
	return err
}

func parseMix(s string) ([3]int, error) {
	var m [3]int
	names := map[string]int{"allowed": 0, "denied": 1, "approval": 2}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		i, known := names[k]
		n, err := strconv.Atoi(v)
		if !ok || !known || err != nil || n < 0 {
			return m, fmt.Errorf("want allowed=N,denied=N,approval=N, not %q", part)
		}
		m[i] = n
	}
	if m[0]+m[1]+m[2] == 0 {
		return m, errors.New("all shares are zero")
	}
	return m, nil
}

// benchReport is what vargate bench prints: the governed gateway's figures
// at the top level, the comparison targets' under compare, and the ratios.
type benchReport struct {
	URL         string  `json:"url"`
	Store       string  `json:"store"`
	Mode        string  `json:"mode"` // closed-loop or fixed-rate
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	DurationS   float64 `json:"duration_s"`
	// Rounds is how many times each target was measured, in turn; the
	// figures are those of each target's run of median throughput.
	Rounds     int            `json:"rounds"`
	WarmupS    float64        `json:"warmup_s"`
	Mix        map[string]int `json:"mix"`
	CPUs       int            `json:"cpus"`
	LoadBefore []float64      `json:"load_average_before,omitempty"`
	LoadAfter  []float64      `json:"load_average_after,omitempty"`
	targetFigures
	Compare map[string]*targetFigures `json:"compare,omitempty"`
	Ratios  *benchRatios              `json:"ratios,omitempty"`
}

// targetFigures are one target's measurements. Latencies in milliseconds.
type targetFigures struct {
	Throughput float64 `json:"throughput"` // answered calls per second
	// ThroughputRuns lists every round's throughput when there were several.
	ThroughputRuns []float64        `json:"throughput_runs,omitempty"`
	Calls          int64            `json:"calls"`
	Errors         int64            `json:"errors"`
	FirstError     string           `json:"first_error,omitempty"`
	Unsent         int64            `json:"unsent,omitempty"`
	ElapsedS       float64          `json:"elapsed_s"`
	Latency        latencyFigures   `json:"latency_ms"`
	Service        *latencyFigures  `json:"service_ms,omitempty"` // at a fixed rate: from the actual send
	Outcomes       map[string]int64 `json:"outcomes"`
	// CPUSeconds is the CPU time the gateway process used while measured
	// (spawned gateways only; user + system).
	CPUSeconds float64 `json:"gateway_cpu_s,omitempty"`
	// CPUPerCallUS is CPUSeconds per answered call, in microseconds.
	CPUPerCallUS float64 `json:"gateway_cpu_us_per_call,omitempty"`
	// BenchCPUPerCallUS is this process's CPU time per answered call: the
	// load generator, plus the bare server or the OPA sidecar when they
	// run here.
	BenchCPUPerCallUS float64 `json:"bench_cpu_us_per_call"`
	// CallsPerCPUSecond is answered calls per CPU-second of everything
	// taking part (gateway, sidecar, bare server, load generator): on a
	// shared machine a steadier figure than calls per second, and what
	// N idle cores would give × N. Not reported for a gateway at --url,
	// whose CPU time the bench cannot see.
	CallsPerCPUSecond float64 `json:"calls_per_cpu_s,omitempty"`
}

type latencyFigures struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// benchRatios compare the governed gateway with the other targets.
type benchRatios struct {
	// ThroughputVsBare is governed ÷ bare; ThroughputVsSidecar governed ÷ sidecar.
	ThroughputVsBare    float64 `json:"throughput_vs_bare,omitempty"`
	ThroughputVsSidecar float64 `json:"throughput_vs_sidecar,omitempty"`
	// CPUEfficiencyVsBare and CPUEfficiencyVsSidecar compare calls per
	// CPU-second (governed ÷ other): the throughput ratio the targets
	// would show on the same idle cores.
	CPUEfficiencyVsBare    float64 `json:"cpu_efficiency_vs_bare,omitempty"`
	CPUEfficiencyVsSidecar float64 `json:"cpu_efficiency_vs_sidecar,omitempty"`
	// AddedLatency is governed − bare, per percentile (ms).
	AddedLatency *latencyFigures `json:"added_latency_ms,omitempty"`
	// UpstreamAddedLatency is upstream − upstream-direct: what calling a
	// third-party MCP server through the gateway adds (ms).
	UpstreamAddedLatency *latencyFigures `json:"upstream_added_latency_ms,omitempty"`
	// SidecarAddedLatency is sidecar − governed, per percentile (ms).
	SidecarAddedLatency *latencyFigures `json:"sidecar_added_latency_ms,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(h *loadgen.Histogram) latencyFigures {
	return latencyFigures{P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Mean: ms(h.Mean())}
}

func (a latencyFigures) minus(b latencyFigures) *latencyFigures {
	r := func(x float64) float64 { return float64(int64(x*1000+0.5*sign(x))) / 1000 }
	return &latencyFigures{P50: r(a.P50 - b.P50), P90: r(a.P90 - b.P90), P99: r(a.P99 - b.P99),
		P999: r(a.P999 - b.P999), Max: r(a.Max - b.Max), Mean: r(a.Mean - b.Mean)}
}

func sign(x float64) float64 {
	if x < 0 {
		return -1
	}
	return 1
}

func figuresOf(r *loadgen.Report) targetFigures {
	f := targetFigures{
		Throughput: float64(int64(r.Throughput()*10)) / 10, Calls: r.Calls, Errors: r.Errors, FirstError: r.FirstError,
		Unsent: r.Unsent, ElapsedS: r.Elapsed.Seconds(), Latency: latencyOf(&r.Latency), Outcomes: map[string]int64{},
	}
	if r.Rate > 0 {
		s := latencyOf(&r.Service)
		f.Service = &s
	}
	for o, n := range r.Outcomes {
		f.Outcomes[string(o)] = n
	}
	return f
}

// bench runs the governed target and the comparisons. It returns what it
// measured even when a later target failed.
func bench(ctx context.Context, env *environment, o benchOptions) (*benchReport, error) {
	rep := &benchReport{
		URL: o.url, Store: o.store, Mode: "closed-loop", Concurrency: o.concurrency, Rate: o.rate,
		DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(), CPUs: runtime.NumCPU(), Rounds: o.rounds,
		Mix: map[string]int{"allowed": o.mix[0], "denied": o.mix[1], "approval": o.mix[2]}, LoadBefore: loadAverage(),
	}
	if o.rate > 0 {
		rep.Mode = "fixed-rate"
	}
	echo, err := loadgen.StartEcho("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer echo.Close()
	progress := func(format string, args ...any) {
		if !o.json {
			fmt.Fprintf(env.stderr, "bench: "+format+"\n", args...)
		}
	}

	// Every target is set up first and stays up; the rounds then measure
	// them in turn, so that a change in the machine's other load falls on
	// all of them alike.
	type target struct {
		name string
		tg   loadgen.Target
		mix  []loadgen.Weighted
		proc *gatewayProc
		// inProcess: the target's server runs in this process (its CPU
		// time is the bench's).
		inProcess bool
		runs      []*targetFigures
	}
	var targets []*target

	// The governed gateway: the one at --url, or one of our own.
	var gw *benchGateway
	if o.url == "" {
		progress("starting a gateway (%s)", o.store)
		var extra map[string]string
		if slices.Contains(o.compare, "upstream") {
			// The upstream runs on loopback.
			extra = map[string]string{"VARGATE_ALLOW_PRIVATE_TARGETS": "true"}
		}
		if gw, err = startBenchGateway(ctx, o, extra); err != nil {
			return nil, err
		}
		defer gw.close()
		rep.URL = gw.proc.URL + " (started by bench)"
	} else {
		rep.Store = "(the gateway's)"
		gw = &benchGateway{url: strings.TrimRight(o.url, "/"), adminKey: o.apiKey}
	}
	fix, err := loadgen.Setup(ctx, loadgen.SetupOptions{URL: gw.url, AdminKey: gw.adminKey, EchoURL: echo.URL})
	if fix != nil {
		defer func() {
			if cerr := fix.Cleanup(context.WithoutCancel(ctx)); cerr != nil {
				progress("cleanup: %v", cerr)
			}
		}()
	}
	if err != nil {
		return nil, fmt.Errorf("set up the bench agent on %s: %w", gw.url, err)
	}
	progress("governed: %s, tools %s / %s / %s", fix.MCPURL, fix.AllowedTool, fix.DeniedTool, fix.ApprovalTool)
	mix, err := fix.Mix(o.mix[0], o.mix[1], o.mix[2])
	if err != nil {
		return nil, err
	}
	targets = append(targets, &target{name: "governed", tg: fix.Target("governed"), mix: mix, proc: gw.proc})

	for _, c := range o.compare {
		switch c {
		case "bare":
			progress("bare: the MCP SDK's server with the same tools, no governance")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			srv := &http.Server{Handler: loadgen.NewBareHandler(fix.AllowedTool, fix.DeniedTool, fix.ApprovalTool), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			targets = append(targets, &target{name: "bare", tg: loadgen.Target{Name: "bare", URL: "http://" + ln.Addr().String() + "/"}, mix: mix, inProcess: true})
		case "sidecar":
			progress("sidecar: a gateway (%s) deciding through OPA's server (in this process) over loopback HTTP", o.store)
			opa, err := loadgen.StartOPA(ctx, "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			defer opa.Close()
			sgw, err := startBenchGateway(ctx, o, map[string]string{"VARGATE_POLICY_SIDECAR_URL": opa.DecisionURL})
			if err != nil {
				return nil, fmt.Errorf("sidecar gateway: %w", err)
			}
			defer sgw.close()
			sfix, err := loadgen.Setup(ctx, loadgen.SetupOptions{URL: sgw.url, AdminKey: sgw.adminKey, EchoURL: echo.URL})
			if err != nil {
				return nil, fmt.Errorf("sidecar gateway: %w", err)
			}
			smix, err := sfix.Mix(o.mix[0], o.mix[1], o.mix[2])
			if err != nil {
				return nil, err
			}
			targets = append(targets, &target{name: "sidecar", tg: sfix.Target("sidecar"), mix: smix, proc: sgw.proc})
		case "upstream":
			progress("upstream: an MCP server in this process, called directly and as an upstream of the gateway")
			ufix, err := loadgen.SetupUpstream(ctx, loadgen.SetupOptions{URL: gw.url, AdminKey: gw.adminKey})
			if ufix != nil {
				defer func() {
					if cerr := ufix.Cleanup(context.WithoutCancel(ctx)); cerr != nil {
						progress("cleanup: %v", cerr)
					}
				}()
			}
			if err != nil {
				return nil, fmt.Errorf("upstream: %w", err)
			}
			dmix, umix, err := ufix.Mixes()
			if err != nil {
				return nil, err
			}
			targets = append(targets,
				&target{name: "upstream-direct", tg: ufix.Direct(), mix: dmix, inProcess: true},
				&target{name: "upstream", tg: ufix.Governed(), mix: umix, proc: gw.proc})
		}
	}

	for round := range o.rounds {
		for _, t := range targets {
			progress("round %d/%d: %s", round+1, o.rounds, t.name)
			f, err := measureTarget(ctx, o, t.tg, t.mix, t.proc, t.inProcess)
			if err != nil {
				return nil, err
			}
			t.runs = append(t.runs, f)
		}
	}
	for _, t := range targets {
		// The run of median throughput stands for the target; all runs'
		// throughputs are listed.
		runs := slices.Clone(t.runs)
		slices.SortFunc(runs, func(a, b *targetFigures) int { return cmp.Compare(a.Throughput, b.Throughput) })
		f := *runs[len(runs)/2]
		if len(t.runs) > 1 {
			for _, r := range t.runs {
				f.ThroughputRuns = append(f.ThroughputRuns, r.Throughput)
			}
		}
		if t.name == "governed" {
			rep.targetFigures = f
			continue
		}
		if rep.Compare == nil {
			rep.Compare = map[string]*targetFigures{}
		}
		rep.Compare[t.name] = &f
	}
	rep.ratios()
	rep.LoadAfter = loadAverage()
	return rep, nil
}

func (rep *benchReport) ratios() {
	if len(rep.Compare) == 0 {
		return
	}
	r := &benchRatios{}
	round := func(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
	if b := rep.Compare["bare"]; b != nil && b.Throughput > 0 {
		r.ThroughputVsBare = round(rep.Throughput / b.Throughput)
		r.AddedLatency = rep.Latency.minus(b.Latency)
		if b.CallsPerCPUSecond > 0 {
			r.CPUEfficiencyVsBare = round(rep.CallsPerCPUSecond / b.CallsPerCPUSecond)
		}
	}
	if s := rep.Compare["sidecar"]; s != nil && s.Throughput > 0 {
		r.ThroughputVsSidecar = round(rep.Throughput / s.Throughput)
		r.SidecarAddedLatency = s.Latency.minus(rep.Latency)
		if s.CallsPerCPUSecond > 0 {
			r.CPUEfficiencyVsSidecar = round(rep.CallsPerCPUSecond / s.CallsPerCPUSecond)
		}
	}
	if u, d := rep.Compare["upstream"], rep.Compare["upstream-direct"]; u != nil && d != nil {
		r.UpstreamAddedLatency = u.Latency.minus(d.Latency)
	}
	rep.Ratios = r
}

// measureTarget runs the load against one target; proc, when the bench
// started the target's gateway, is measured for CPU time.
// With neither proc nor inProcess (a gateway at --url), the server's CPU
// is unknown and calls per CPU-second are not reported.
func measureTarget(ctx context.Context, o benchOptions, tg loadgen.Target, mix []loadgen.Weighted, proc *gatewayProc, inProcess bool) (*targetFigures, error) {
	// CPU time is counted over the measured window only, from the end
	// of the warm-up.
	var (
		cpuMu               sync.Mutex
		cpuStart, selfStart time.Duration
	)
	gatewayCPU := func() time.Duration {
		if proc == nil {
			return 0
		}
		return proc.cpuTime()
	}
	cpuStart, selfStart = gatewayCPU(), selfCPUTime()
	timer := time.AfterFunc(o.warmup, func() {
		c, self := gatewayCPU(), selfCPUTime()
		cpuMu.Lock()
		cpuStart, selfStart = c, self
		cpuMu.Unlock()
	})
	defer timer.Stop()
	r, err := loadgen.Run(ctx, loadgen.Options{Target: tg, Mix: mix, Concurrency: o.concurrency, Rate: o.rate,
		Duration: o.duration, Warmup: o.warmup})
	if err != nil {
		return nil, err
	}
	f := figuresOf(r)
	cpuMu.Lock()
	cpu, self := gatewayCPU()-cpuStart, selfCPUTime()-selfStart
	cpuMu.Unlock()
	if answered := r.Calls - r.Errors; answered > 0 {
		perCall := func(d time.Duration) float64 {
			return float64(int64(float64(d.Microseconds())/float64(answered)*10)) / 10
		}
		if proc != nil {
			f.CPUSeconds = float64(cpu.Milliseconds()) / 1000
			f.CPUPerCallUS = perCall(cpu)
		}
		f.BenchCPUPerCallUS = perCall(self)
		if total := cpu + self; total > 0 && (proc != nil || inProcess) {
			f.CallsPerCPUSecond = float64(int64(float64(answered) / total.Seconds()))
		}
	}
	if r.Calls == 0 || r.Errors == r.Calls {
		return &f, fmt.Errorf("%s: no call was answered (first error: %s)", tg.Name, r.FirstError)
	}
	return &f, nil
}

// benchGateway is a gateway the bench drives: its URL and admin key, and
// the process and database when the bench started it.
type benchGateway struct {
	url, adminKey string
	proc          *gatewayProc
	dropDB        func() error
	closeOnce     sync.Once
}

func (g *benchGateway) close() {
	g.closeOnce.Do(func() {
		if g.proc != nil {
			_ = g.proc.Stop()
			_ = os.RemoveAll(g.proc.DataDir)
		}
		if g.dropDB != nil {
			_ = g.dropDB()
		}
	})
}

// startBenchGateway starts `vargate serve` from this binary with the
// bench tools, a fresh data directory and a fresh store.
func startBenchGateway(ctx context.Context, o benchOptions, extra map[string]string) (*benchGateway, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vargate-bench-")
	if err != nil {
		return nil, err
	}
	g := &benchGateway{}
	env := map[string]string{"VARGATE_BENCH_TOOLS": "true"}
	if o.store == "postgres" {
		dsn, drop, err := createDatabase(ctx, o.databaseURL, "vargate_bench_"+vargate.NewID("", 4))
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		env["DATABASE_URL"], g.dropDB = dsn, drop
	}
	for k, v := range extra {
		env[k] = v
	}
	g.proc, err = startGatewayProc(ctx, bin, dir, "127.0.0.1:0", env)
	if err != nil {
		g.close()
		os.RemoveAll(dir)
		return nil, err
	}
	g.url, g.adminKey = g.proc.URL, g.proc.AdminKey
	return g, nil
}

func (rep *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "vargate bench: %s, %d clients", rep.Mode, rep.Concurrency)
	if rep.Rate > 0 {
		fmt.Fprintf(w, " at %.0f calls/s (latency from intended start)", rep.Rate)
	}
	fmt.Fprintf(w, ", %.0fs (+%.0fs warm-up), mix allowed=%d denied=%d approval=%d, %d CPUs, load %v → %v\n",
		rep.DurationS, rep.WarmupS, rep.Mix["allowed"], rep.Mix["denied"], rep.Mix["approval"], rep.CPUs, rep.LoadBefore, rep.LoadAfter)
	fmt.Fprintf(w, "governed: %s, store %s\n\n", rep.URL, rep.Store)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tcalls/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tgateway CPU µs/call\tbench CPU µs/call\tcalls/CPU-s\t")
	row := func(name string, f *targetFigures) {
		cpu := "-"
		if f.CPUPerCallUS > 0 {
			cpu = strconv.FormatFloat(f.CPUPerCallUS, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%s\t%.0f\t%.0f\t\n", name, f.Throughput, f.Latency.P50, f.Latency.P90,
			f.Latency.P99, f.Latency.P999, f.Latency.Max, f.Errors, cpu, f.BenchCPUPerCallUS, f.CallsPerCPUSecond)
	}
	row("governed", &rep.targetFigures)
	for _, name := range []string{"bare", "sidecar", "upstream-direct", "upstream"} {
		if f := rep.Compare[name]; f != nil {
			row(name, f)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\ngoverned outcomes: %v\n", rep.Outcomes)
	if rep.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", rep.FirstError)
	}
	if rep.Unsent > 0 {
		fmt.Fprintf(w, "the gateway fell behind the rate: %d scheduled calls were never sent\n", rep.Unsent)
	}
	if r := rep.Ratios; r != nil {
		if r.ThroughputVsBare > 0 {
			fmt.Fprintf(w, "governed ÷ bare throughput: %.2f; governance adds p50 %+.2f ms, p99 %+.2f ms\n",
				r.ThroughputVsBare, r.AddedLatency.P50, r.AddedLatency.P99)
		}
		if r.ThroughputVsSidecar > 0 {
			fmt.Fprintf(w, "governed ÷ sidecar throughput: %.2f; the sidecar adds p50 %+.2f ms, p99 %+.2f ms\n",
				r.ThroughputVsSidecar, r.SidecarAddedLatency.P50, r.SidecarAddedLatency.P99)
		}
		if u := r.UpstreamAddedLatency; u != nil {
			fmt.Fprintf(w, "governing an upstream MCP server adds p50 %+.2f ms, p99 %+.2f ms over calling it directly\n", u.P50, u.P99)
		}
		if r.CPUEfficiencyVsBare > 0 || r.CPUEfficiencyVsSidecar > 0 {
			fmt.Fprintf(w, "calls per CPU-second, governed ÷ bare: %.2f, governed ÷ sidecar: %.2f\n", r.CPUEfficiencyVsBare, r.CPUEfficiencyVsSidecar)
		}
	}
}
