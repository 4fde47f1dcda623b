package web

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterFullKeepsRecentClients: the failed sign-in counts are
// bounded; when full, the least recently seen client's count goes, and a
// client still being refused keeps its count.
func TestLimiterFullKeepsRecentClients(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	l := newLimiter(3)
	for range 3 {
		l.fail("attacker", now)
	}
	if l.allow("attacker", now) {
		t.Fatal("allowed after 3 failures in a minute")
	}
	for i := 1; i < maxLimitedClients; i++ {
		l.fail(fmt.Sprintf("client-%d", i), now)
	}
	if l.allow("attacker", now) { // also makes it the most recently seen
		t.Fatal("allowed with the limiter full")
	}
	l.fail("one-more", now) // makes room by dropping client-1
	if n := l.m.Len(); n != maxLimitedClients {
		t.Errorf("%d clients counted, want %d", n, maxLimitedClients)
	}
	if l.allow("attacker", now) {
		t.Error("the refused client's count was dropped to make room")
	}
	if _, ok := l.m.Get("client-1", now); ok {
		t.Error("client-1, the least recently seen, is still counted")
	}
	if _, ok := l.m.Get("client-2", now); !ok {
		t.Error("client-2 was dropped; only one client should have made room")
	}
	if !l.allow("attacker", now.Add(time.Minute+time.Second)) {
		t.Error("still refused after the minute")
	}
}
