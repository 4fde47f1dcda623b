package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/postgres"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

// The crash test re-runs this test binary as a child that appends from
// many goroutines and prints "ack SEQ ACTION_ID" for every append that
// returned, then kills it with SIGKILL mid-flight. Every acknowledged
// append must survive, and the chain must verify.

const (
	crashChildEnv = "VARGATE_AUDIT_CRASH_CHILD" // dialect
	crashDSNEnv   = "VARGATE_AUDIT_CRASH_DSN"
	crashKeyEnv   = "VARGATE_AUDIT_CRASH_KEY"
	crashRoundEnv = "VARGATE_AUDIT_CRASH_ROUND"
	crashRounds   = 5
	crashWriters  = 32
)

func TestCrashChild(t *testing.T) {
	dialect := os.Getenv(crashChildEnv)
	if dialect == "" {
		t.Skip("helper process for TestCrash")
	}
	ctx := context.Background()
	// Never outlive a parent that died without killing us.
	time.AfterFunc(2*time.Minute, func() { os.Exit(3) })
	var db *sqlstore.DB
	var err error
	if dialect == string(sqlstore.Postgres) {
		db, err = postgres.Open(ctx, os.Getenv(crashDSNEnv))
	} else {
		db, err = sqlite.Open(ctx, os.Getenv(crashDSNEnv))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	signer, err := audit.LoadOrCreateKey(os.Getenv(crashKeyEnv), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: key:", err)
		os.Exit(2)
	}
	l := audit.New(sqlstore.NewAuditStore(db), signer)
	l.CheckpointInterval = 20 * time.Millisecond // checkpoints race the appends too
	if err := l.Open(); err != nil {
		fmt.Fprintln(os.Stderr, "child: open log:", err)
		os.Exit(2)
	}
	round := os.Getenv(crashRoundEnv)
	var mu sync.Mutex
	for g := range crashWriters {
		go func() {
			for i := 0; ; i++ {
				r := event("t1", i)
				r.ActionID = fmt.Sprintf("r%s-g%d-%d", round, g, i)
				rec, err := l.Append(ctx, r)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child: append:", err)
					os.Exit(2)
				}
				mu.Lock()
				// One unbuffered write per ack: once it returns, the parent
				// can read it even if we are killed the next instant.
				fmt.Fprintf(os.Stdout, "ack %d %s\n", rec.Seq, rec.ActionID)
				mu.Unlock()
			}
		}()
	}
	select {}
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			keyPath := filepath.Join(dir, "audit.key")
			var dsn string
			var open func() *sqlstore.DB
			if d == sqlstore.Postgres {
				dsn = pgSchemaDSN(t)
				open = func() *sqlstore.DB { return openPG(t, dsn) }
			} else {
				dsn = filepath.Join(dir, "vargate.db")
				open = func() *sqlstore.DB {
					db, err := sqlite.Open(context.Background(), dsn)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { db.Close() })
					return db
				}
				db0 := open()
				if _, err := db0.Migrate(context.Background(), storetest.Migrations(t, sqlstore.SQLite)); err != nil {
					t.Fatal(err)
				}
				db0.Close()
			}
			acked := map[string]int64{} // action ID → seq, over all rounds
			for round := 1; round <= crashRounds; round++ {
				got := runCrashChild(t, d, dsn, keyPath, round)
				for id, seq := range got {
					acked[id] = seq
				}
				db := open()
				checkAfterCrash(t, db, keyPath, acked, round)
				db.Close()
			}
		})
	}
}

// runCrashChild starts a child, lets it acknowledge a few hundred appends,
// kills it and returns every acknowledgement it printed.
func runCrashChild(t *testing.T, d sqlstore.Dialect, dsn, keyPath string, round int) map[string]int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"="+string(d), crashDSNEnv+"="+dsn, crashKeyEnv+"="+keyPath, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := map[string]int64{}
	var mu sync.Mutex
	enough := make(chan struct{})
	eof := make(chan struct{})
	target := 200 + rand.IntN(800)
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			seq, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				continue
			}
			mu.Lock()
			acks[f[2]] = seq
			if len(acks) == target {
				close(enough)
			}
			mu.Unlock()
		}
	}()
	select {
	case <-enough:
	case <-eof:
		_ = cmd.Wait()
		t.Fatalf("round %d: child exited before %d acknowledgements: %s", round, target, stderr.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("round %d: no %d acknowledgements within a minute: %s", round, target, stderr.String())
	}
	// A random moment within the next 5 ms, so that rounds kill the
	// writers at different points of an append (the delay is the test's
	// input, not a wait for something).
	time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-eof
	_ = cmd.Wait() // "signal: killed"
	mu.Lock()
	defer mu.Unlock()
	return acks
}

func checkAfterCrash(t *testing.T, db *sqlstore.DB, keyPath string, acked map[string]int64, round int) {
	t.Helper()
	ctx := context.Background()
	signer, err := audit.LoadOrCreateKey(keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	st := sqlstore.NewAuditStore(db)
	res, err := audit.Verify(ctx, st, signer.Verifier(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid {
		t.Fatalf("round %d: chain does not verify after SIGKILL: %+v", round, res)
	}
	bySeq := map[int64]string{}
	err = st.Scan(ctx, "t1", 1, 0, func(r *audit.Record) error {
		bySeq[r.Seq] = r.ActionID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for id, seq := range acked {
		if bySeq[seq] != id {
			lost++
			if lost <= 5 {
				t.Errorf("round %d: acknowledged append %s (seq %d) is not in the log (seq %d holds %q)", round, id, seq, seq, bySeq[seq])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("round %d: %d of %d acknowledged appends lost", round, lost, len(acked))
	}
	t.Logf("round %d: %d acknowledged appends all present; log holds %d records (%d committed but not acknowledged before the kill), %d checkpoints verified",
		round, len(acked), res.RecordsChecked, res.RecordsChecked-int64(len(acked)), res.CheckpointsChecked)
}
