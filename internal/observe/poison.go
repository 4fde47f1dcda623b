package observe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// Poison events. An event the consumer cannot record as it is (it does
// not parse, its identity is unusable, the store refuses it, or the trail
// rejects its record) is written to the trail as a dead-letter record (source session,
// decision dead_letter, the event's ID or digest as action ID), counted
// (Stats.Poison, vargate_observe_poison_events_total) and logged; the
// stream moves on. Its tool call, if it is one, was scored before the
// record was attempted, so it still counts towards the interrupt.

// DecisionDeadLetter is the decision of a dead-letter record.
const DecisionDeadLetter = "dead_letter"

// MaxIDBytes bounds an event's identifiers (event, tool use and thread
// IDs; the API's are under 64 bytes). An event with a longer one is a
// poison event: cutting it could merge two events into one.
const MaxIDBytes = 256

// maxNameBytes bounds names and types kept from an event.
const maxNameBytes = 256

// cleanText returns s without NUL bytes (PostgreSQL text cannot hold
// them) and invalid UTF-8, cut to max bytes.
func cleanText(s string, max int) string {
	if len(s) <= max && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	return cut(s, max)
}

// validID reports whether an event identifier can be stored as it is.
func validID(s string) bool {
	return len(s) <= MaxIDBytes && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// clean makes the strings the consumer stores from an event storable and
// bounded, and reports an identifier it cannot use ("" when all are
// usable).
func (e *wireEvent) clean() (bad string) {
	for _, id := range []string{e.ID, e.ToolUseID, e.MCPToolUseID, e.threadID()} {
		if !validID(id) {
			return "an identifier longer than 256 bytes or not clean UTF-8"
		}
	}
	e.Type = cleanText(e.Type, maxNameBytes)
	e.Name = cleanText(e.Name, maxNameBytes)
	e.MCPServerName = cleanText(e.MCPServerName, maxNameBytes)
	e.EvaluatedPermission = cleanText(e.EvaluatedPermission, maxNameBytes)
	e.AgentName = cleanText(e.AgentName, maxNameBytes)
	if e.StopReason != nil {
		e.StopReason.Type = cleanText(e.StopReason.Type, maxNameBytes)
		ids := e.StopReason.EventIDs[:0]
		for _, id := range e.StopReason.EventIDs {
			if validID(id) {
				ids = append(ids, id)
			}
		}
		e.StopReason.EventIDs = ids
	}
	if e.Error != nil {
		e.Error.Type = cleanText(e.Error.Type, maxNameBytes)
		e.Error.MCPServerName = cleanText(e.Error.MCPServerName, maxNameBytes)
		e.Error.Message = cleanText(e.Error.Message, 4096)
	}
	return ""
}

// rawDigest is "sha256:" and the hex SHA-256 of raw.
func rawDigest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// poisonRaw handles an event that cannot be read or stored as it is: one
// dead-letter record per event and consumer (a back-fill delivers it
// again), a log line and the metric.
func (p *processor) poisonRaw(ctx context.Context, raw []byte, ev *wireEvent, reason string) {
	d := audit.DeadLetterDetail{EventDigest: rawDigest(raw), EventBytes: len(raw), Reason: reason}
	if ev != nil {
		d.EventType = cleanText(ev.Type, maxNameBytes)
		if validID(ev.ID) {
			d.EventID = ev.ID
		}
	}
	if !p.c.firstPoison(d.EventDigest) {
		return
	}
	p.deadLetter(ctx, d.EventDigest, "", "", d)
}

// poisonRecord writes the dead-letter record of a tool use whose observed
// record the trail rejected.
func (p *processor) poisonRecord(ctx context.Context, u *ToolUse, cause error) error {
	d := audit.DeadLetterDetail{EventID: u.ToolUseID, EventType: "tool_use", Tool: cleanText(u.Tool, maxNameBytes), Reason: cut(cause.Error(), 1024)}
	return p.deadLetter(ctx, u.ToolUseID, d.Tool, u.ArgsDigest, d)
}

// deadLetter writes a dead-letter record, counts and logs it.
func (p *processor) deadLetter(ctx context.Context, actionID, tool, digest string, d audit.DeadLetterDetail) error {
	s, st := p.c.s, p.st
	s.stats.poison.Add(1)
	p.log().LogAttrs(ctx, slog.LevelError, "poison event dead-lettered; the stream moves on",
		slog.String(logKeyEvent, cleanText(d.EventID, MaxIDBytes)), slog.String("event_digest", d.EventDigest),
		slog.String(logKeyTool, tool), slog.String("reason", d.Reason))
	detail, _ := json.Marshal(d)
	actx, cancel := s.sideCtx(ctx)
	defer cancel()
	_, err := s.Audit.Append(actx, audit.Record{
		TenantID: st.sess.TenantID, Time: s.now(), Source: audit.SourceSession, SessionID: st.sess.SessionID, AgentID: st.sess.AgentID,
		ActionID: cleanText(actionID, audit.MaxStringBytes), Tool: tool, Decision: DecisionDeadLetter, ArgsDigest: digest,
		Reasons: []string{"poison_event"}, Actor: ActorSystem, Detail: detail,
	})
	if err != nil {
		p.log().LogAttrs(ctx, slog.LevelError, "audit dead-letter record", slog.Any(logKeyError, err))
	}
	return err
}

// rejected reports whether the trail refused a record for what it holds
// (not for being unavailable): retrying it cannot help.
func rejected(err error) bool { return vargate.IsKind(err, vargate.KindInvalid) }

// maxPoisoned bounds the digests of dead-lettered events a consumer
// remembers.
const maxPoisoned = 10_000

// firstPoison reports whether the consumer has not dead-lettered the
// event of this digest before, and notes it.
func (c *consumer) firstPoison(digest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.poisoned == nil {
		c.poisoned = map[string]bool{}
	}
	if c.poisoned[digest] {
		return false
	}
	if len(c.poisoned) < maxPoisoned {
		c.poisoned[digest] = true
	}
	return true
}

// errReload ends a connection after an event was stored alone and
// dead-lettered: the next connection reloads the state from the store.
var errReload = errors.New("observe: state reloaded after a poison event")

// storeRefused handles a batch the store refused. A refused batch of
// several events makes the next connections handle events one at a time
// (for up to MaxBatch commits), so that the event the store refuses is
// found; refused alone a second time, the event is stored as its
// identity only (no tool use row), its crossing of the threshold still
// interrupts the session, and it is dead-lettered. It reports whether it
// did so. A store that is down refuses the identity too, and the
// connection fails as before.
func (p *processor) storeRefused(ctx context.Context, err error, items []item, b Batch, crossed *crossing) bool {
	if errors.Is(err, ErrLeaseLost) || ctx.Err() != nil {
		return false
	}
	c := p.c
	c.isolate(c.s.maxBatch())
	if len(items) != 1 || len(b.Events) != 1 || !c.failedBefore(b.Events[0].EventID) {
		return false
	}
	alone := b
	alone.ToolUses = nil
	if c.s.Store.Commit(ctx, alone) != nil {
		return false
	}
	c.committed()
	p.audited = nil
	c.s.stats.events.Add(1)
	if crossed != nil {
		p.crossed(ctx, crossed)
	}
	ev := wireEvent{ID: b.Events[0].EventID, Type: b.Events[0].Type}
	p.poisonRaw(ctx, items[0].raw, &ev, cut("the store refused the event: "+err.Error(), 1024))
	return true
}

// isolate makes the next n commits carry one event each.
func (c *consumer) isolate(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.isolated = n
}

func (c *consumer) isolating() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isolated > 0
}

// committed counts a commit towards the end of isolation.
func (c *consumer) committed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isolated > 0 {
		c.isolated--
	}
}

// failedBefore reports whether the store refused the event alone before,
// and notes that it did now.
func (c *consumer) failedBefore(eventID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refusedEvents == nil {
		c.refusedEvents = map[string]bool{}
	}
	if c.refusedEvents[eventID] {
		return true
	}
	if len(c.refusedEvents) < maxPoisoned {
		c.refusedEvents[eventID] = true
	}
	return false
}
