package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vargate/vargate/internal/anomaly"
)

// state is a consumer's view of its session during one connection,
// loaded from the store when the connection starts.
type state struct {
	sess  Session
	score *anomaly.SessionScore
	det   *anomaly.Detector
	red   redactor
	seen  map[string]time.Time // event ID → processed_at, of events from seenFrom on
	// seenFrom is the processed_at from which seen holds every stored
	// event; an older event (a thread's history, a late delivery) is
	// looked up in the store.
	seenFrom time.Time
	uses     map[string]*use // tool uses not yet audited
	calls    int
	denials  int
	// interrupted is set once a user.interrupt was seen: the next idle
	// ends the session as interrupted.
	interrupted bool
	lastError   string
	finished    bool
}

// maxSeen bounds the seen set of a long session: older IDs are dropped
// and looked up in the store if they come again.
const maxSeen = 100_000

// prune drops the seen IDs of events older than twice the slack before
// the cursor once the set grows past maxSeen.
func (st *state) prune(slack time.Duration) {
	if len(st.seen) <= maxSeen || st.sess.Cursor.IsZero() {
		return
	}
	cutoff := st.sess.Cursor.Add(-2 * slack)
	for id, at := range st.seen {
		if at.Before(cutoff) {
			delete(st.seen, id)
		}
	}
	if cutoff.After(st.seenFrom) {
		st.seenFrom = cutoff
	}
}

// use is a tool use in flight.
type use struct {
	ToolUse
	// input is the raw input of an undecided confirmation request (only
	// those: it may hold what the redacted copy hides).
	input json.RawMessage
}

// load reads the session's state for a new connection.
func (c *consumer) load(ctx context.Context) (*state, error) {
	sess, err := c.s.Store.Get(ctx, c.tenantID, c.sessionID)
	if err != nil {
		return nil, fmt.Errorf("load observed session: %w", err)
	}
	level, err := anomaly.ParseRiskLevel(sess.RiskLevel)
	if err != nil {
		level = anomaly.RiskStrict // fail closed on a level we do not know
	}
	st := &state{
		sess:        sess,
		score:       anomaly.NewSessionScore(level),
		det:         anomaly.New(anomaly.Config{AllowedDomains: sess.AllowedDomains}),
		red:         redactor{all: sess.PIIDetection},
		seen:        map[string]time.Time{},
		uses:        map[string]*use{},
		interrupted: sess.InterruptEvent != "",
	}
	if sess.Score > 0 {
		st.score.Add(anomaly.Verdict{Score: sess.Score}, sess.ScoreAt)
	}
	since := time.Time{}
	if !sess.Cursor.IsZero() {
		since = sess.Cursor.Add(-2 * c.s.historySlack())
	}
	ids, err := c.s.Store.EventIDsSince(ctx, c.sessionID, since)
	if err != nil {
		return nil, fmt.Errorf("load seen events: %w", err)
	}
	for _, id := range ids {
		st.seen[id] = sess.Cursor
	}
	st.seenFrom = since
	open, err := c.s.Store.OpenToolUses(ctx, c.sessionID)
	if err != nil {
		return nil, fmt.Errorf("load open tool uses: %w", err)
	}
	for _, tu := range open {
		st.uses[tu.ToolUseID] = &use{ToolUse: tu}
	}
	return st, nil
}
