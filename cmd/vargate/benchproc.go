package main

// The processes vargate bench and the soak test start: gateways from this
// binary, the databases they run on, and what is read of them.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vargate/vargate/internal/postgres"
)

// createDatabase makes a database on the PostgreSQL server at serverURL
// and returns its URL and a function that drops it.
func createDatabase(ctx context.Context, serverURL, name string) (string, func() error, error) {
	db, err := postgres.Open(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("--database-url: %w", err)
	}
	defer db.Close()
	if _, err := db.Write.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() error {
		db, err := postgres.Open(context.Background(), serverURL)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Write.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	return u.String(), drop, nil
}

// gatewayProc is `vargate serve` running as a child process.
type gatewayProc struct {
	Bin, DataDir, Listen string
	Env                  map[string]string
	// URL is http://host:port; AdminKey the bootstrap key printed on the
	// first start (kept across restarts).
	URL, AdminKey string
	Stderr        *boundedBuffer

	cmd  *exec.Cmd
	done chan error
}

// startGatewayProc starts `bin serve` with dataDir, listening on listen,
// with env added to this process's environment, and waits until it
// serves.
func startGatewayProc(ctx context.Context, bin, dataDir, listen string, env map[string]string) (*gatewayProc, error) {
	p := &gatewayProc{Bin: bin, DataDir: dataDir, Listen: listen, Env: env}
	return p, p.Start(ctx)
}

// Start (re)starts the process; after a restart the URL is the same if
// Listen names a port.
func (p *gatewayProc) Start(ctx context.Context) error {
	ready := filepath.Join(p.DataDir, "ready")
	_ = os.Remove(ready)
	cmd := exec.Command(p.Bin, "serve", "--ready-file", ready)
	vars := map[string]string{
		"VARGATE_DATA_DIR": filepath.Join(p.DataDir, "data"), "VARGATE_LISTEN": p.Listen,
		"VARGATE_LOG_FORMAT": "json", "VARGATE_LOG_LEVEL": "warn",
	}
	for k, v := range p.Env {
		vars[k] = v
	}
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p.Stderr = &boundedBuffer{max: 4 << 20}
	cmd.Stderr = p.Stderr
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s serve: %w", p.Bin, err)
	}
	p.cmd, p.done = cmd, make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			p.URL = "http://" + string(b)
			break
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("gateway exited at start (%v):\n%s", err, p.Stderr.Tail(4000))
		case <-ctx.Done():
			_ = p.Kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return fmt.Errorf("gateway did not start within a minute:\n%s", p.Stderr.Tail(4000))
		}
	}
	if s := p.Stderr.String(); strings.Contains(s, "vgk_") {
		i := strings.Index(s, "vgk_")
		p.AdminKey = strings.Fields(s[i:])[0]
	}
	return nil
}

// PID is the running process's ID.
func (p *gatewayProc) PID() int { return p.cmd.Process.Pid }

// Stop ends the process as an operator would (SIGTERM) and waits.
func (p *gatewayProc) Stop() error {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(45 * time.Second):
		return p.Kill()
	}
}

// Kill ends the process with SIGKILL (no shutdown at all) and waits.
func (p *gatewayProc) Kill() error {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
	return nil
}

// cpuTime is the CPU time (user + system) the process has used, from
// /proc; zero where there is none.
func (p *gatewayProc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// selfCPUTime is the CPU time (user + system) this process has used.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// boundedBuffer keeps what a child writes, up to max bytes (then the
// oldest half is dropped). Safe for concurrent use.
type boundedBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = append(w.b[:0:0], w.b[len(w.b)-w.max/2:]...)
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

// Tail is the last n bytes.
func (w *boundedBuffer) Tail(n int) string {
	s := w.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// loadAverage is the 1, 5 and 15 minute load averages (Linux), or nil.
func loadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var out []float64
	for _, f := range strings.Fields(string(b))[:3] {
		v, _ := strconv.ParseFloat(f, 64)
		out = append(out, v)
	}
	return out
}
