// Package testwait is for tests that wait on an event they cannot be
// told of (a background worker's write, a remote server's state): For
// polls a condition until it holds and fails the test when a deadline
// passes first. Timer-driven code is better tested with testing/synctest;
// tests never assert on how long something took.
//
// It imports only the standard library.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often For checks its condition.
const Interval = 10 * time.Millisecond

// For polls cond every Interval until it returns true; if d passes first
// it fails the test, naming what it waited for.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(Interval)
	}
}
