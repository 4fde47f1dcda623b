package sqlstore_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/observe"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
)

func TestObserveStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC)
		if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: "tenant-a", Name: "a", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.NewObserveStore(db)
		target := observe.Target{TenantID: "tenant-a", SessionID: "vs-1", UpstreamID: "sesn_1", AgentID: "agent-1",
			RiskLevel: "strict", GovernedBuiltinTools: []string{"bash"}, MCPServerName: "vargate", StartedAt: at}
		if err := s.Register(ctx, target, "", at, at); err != nil {
			t.Fatal(err)
		}
		other := target
		other.UpstreamID = "sesn_other"
		if err := s.Register(ctx, other, "p9", at, at.Add(time.Hour)); err != nil {
			t.Fatalf("registering twice: %v", err)
		}
		got, err := s.Get(ctx, "tenant-a", "vs-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(target, got.Target); diff != "" {
			t.Errorf("target (-want +got):\n%s", diff)
		}
		if got.State != observe.StateActive || got.NextSeq != 1 || got.Owner != "" {
			t.Errorf("new session: state %q next_seq %d owner %q", got.State, got.NextSeq, got.Owner)
		}
		if _, err := s.Get(ctx, "tenant-b", "vs-1"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("another tenant's session: got %v, want not found", err)
		}

		// Leases: one owner at a time; a lapsed lease can be taken over.
		lease := at.Add(30 * time.Second)
		claimed, err := s.Claim(ctx, "p1", at, lease, 10)
		if err != nil || len(claimed) != 1 || claimed[0].Owner != "p1" {
			t.Fatalf("p1 claims: %+v, %v", claimed, err)
		}
		if again, err := s.Claim(ctx, "p2", at.Add(time.Second), lease, 10); err != nil || len(again) != 0 {
			t.Errorf("p2 claims a held session: %+v, %v", again, err)
		}
		if _, ok, err := s.ClaimSession(ctx, "vs-1", "p2", at.Add(time.Second), lease); err != nil || ok {
			t.Errorf("p2 claims vs-1 while p1 holds it: ok=%v err=%v", ok, err)
		}
		if held, err := s.Renew(ctx, "p1", []string{"vs-1", "vs-unknown"}, at.Add(time.Minute)); err != nil || !slices.Equal(held, []string{"vs-1"}) {
			t.Errorf("renew: %v, %v", held, err)
		}

		// A batch: events once, tool uses upserted, progress fenced.
		used := at.Add(time.Second)
		tu := observe.ToolUse{SessionID: "vs-1", ToolUseID: "sevt_use", TenantID: "tenant-a", Tool: "bash", Permission: "ask",
			ArgsDigest: "sha256:ab", InputRedacted: json.RawMessage(`{"command":"ls"}`), Anomaly: json.RawMessage(`{"score":0}`), UsedAt: used}
		b := observe.Batch{SessionID: "vs-1", Owner: "p1", At: used, Cursor: used, NextSeq: 3, Score: 0.5, ScoreAt: used,
			UpstreamStatus: "idle", PendingStep: "idle:end_turn",
			Events: []observe.Event{
				{SessionID: "vs-1", EventID: "sevt_run", TenantID: "tenant-a", Seq: 1, Type: "session.status_running", ProcessedAt: used, ReceivedAt: used},
				{SessionID: "vs-1", EventID: "sevt_use", TenantID: "tenant-a", Seq: 2, Type: "agent.tool_use", ProcessedAt: used, ReceivedAt: used},
			},
			ToolUses: []observe.ToolUse{tu}}
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.NextSeq = 4
		b.Events = append(b.Events, observe.Event{SessionID: "vs-1", EventID: "sevt_int", TenantID: "tenant-a", Seq: 3, Type: "user.interrupt", ProcessedAt: used, ReceivedAt: used})
		b.PendingStep = ""
		if err := s.Commit(ctx, b); err != nil {
			t.Fatalf("a batch repeating stored events: %v", err)
		}
		if n, err := s.CountEvents(ctx, "vs-1", "agent.tool_use"); err != nil || n != 1 {
			t.Errorf("tool use events stored %d times (%v), want once", n, err)
		}
		bad := b
		bad.Owner = "p2"
		if err := s.Commit(ctx, bad); !errors.Is(err, observe.ErrLeaseLost) {
			t.Errorf("commit by a non-owner: got %v, want ErrLeaseLost", err)
		}
		got, _ = s.Get(ctx, "tenant-a", "vs-1")
		if got.NextSeq != 4 || got.Score != 0.5 || !got.Cursor.Equal(used) || got.UpstreamStatus != "idle" || got.PendingStep != "idle:end_turn" {
			t.Errorf("progress after commits: %+v", got)
		}
		if err := s.StepDone(ctx, "vs-1", "running"); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.Get(ctx, "tenant-a", "vs-1"); got.PendingStep != "idle:end_turn" {
			t.Errorf("StepDone of another step cleared %q", got.PendingStep)
		}
		if err := s.StepDone(ctx, "vs-1", "idle:end_turn"); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.Get(ctx, "tenant-a", "vs-1"); got.PendingStep != "" {
			t.Errorf("pending step after StepDone: %q", got.PendingStep)
		}
		ids, err := s.EventIDsSince(ctx, "vs-1", used)
		if slices.Sort(ids); err != nil || !slices.Equal(ids, []string{"sevt_int", "sevt_run", "sevt_use"}) {
			t.Errorf("EventIDsSince = %v, %v", ids, err)
		}

		// Interrupt state: seen, and idle only once an idle follows (the
		// last status before it was running).
		if seen, idle, err := s.InterruptState(ctx, "vs-1", "sevt_nope"); err != nil || seen || idle {
			t.Errorf("unknown interrupt: seen=%v idle=%v err=%v", seen, idle, err)
		}
		if seen, idle, err := s.InterruptState(ctx, "vs-1", "sevt_int"); err != nil || !seen || idle {
			t.Errorf("interrupt while running: seen=%v idle=%v err=%v, want seen, not idle", seen, idle, err)
		}
		b.Events = []observe.Event{{SessionID: "vs-1", EventID: "sevt_idle", TenantID: "tenant-a", Seq: 4, Type: "session.status_idle", ProcessedAt: used, ReceivedAt: used}}
		b.NextSeq = 5
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		if seen, idle, err := s.InterruptState(ctx, "vs-1", "sevt_int"); err != nil || !seen || !idle {
			t.Errorf("interrupt then idle: seen=%v idle=%v err=%v, want both", seen, idle, err)
		}

		// Decisions survive a later upsert of the same tool use.
		if err := s.SetDecision(ctx, "vs-1", "sevt_use", "escalated", "needs a human", "sevt_use", false, used); err != nil {
			t.Fatal(err)
		}
		res := used.Add(time.Second)
		tu.ResultAt, tu.ResultExcerpt, tu.ResultEvent = &res, "README.md", "sevt_res"
		b.Events, b.ToolUses = nil, []observe.ToolUse{tu}
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		byAction, err := s.ToolUseByAction(ctx, "tenant-a", "sevt_use")
		if err != nil {
			t.Fatal(err)
		}
		if byAction.Decision != "escalated" || byAction.ActionID != "sevt_use" || byAction.ResultExcerpt != "README.md" || byAction.ConfirmedAt != nil {
			t.Errorf("tool use after decision and result: %+v", byAction)
		}
		if _, err := s.ToolUseByAction(ctx, "tenant-b", "sevt_use"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("another tenant's action: got %v, want not found", err)
		}
		if err := s.SetDecision(ctx, "vs-1", "sevt_use", "allow", "approved", "", true, res); err != nil {
			t.Fatal(err)
		}
		open, err := s.OpenToolUses(ctx, "vs-1")
		if err != nil || len(open) != 1 {
			t.Fatalf("open tool uses: %+v, %v", open, err)
		}
		if open[0].Decision != "allow" || open[0].ActionID != "sevt_use" || open[0].ConfirmedAt == nil || !open[0].ConfirmedAt.Equal(res) {
			t.Errorf("after allow: %+v", open[0])
		}
		if err := s.MarkAudited(ctx, "vs-1", []string{"sevt_use"}, res); err != nil {
			t.Fatal(err)
		}
		if open, _ := s.OpenToolUses(ctx, "vs-1"); len(open) != 0 {
			t.Errorf("audited tool use still open: %+v", open)
		}

		// Finish is fenced too, and a done session is not claimable.
		if err := s.Finish(ctx, "p2", "vs-1", "interrupted", res); !errors.Is(err, observe.ErrLeaseLost) {
			t.Errorf("finish by a non-owner: %v", err)
		}
		if err := s.Finish(ctx, "p1", "vs-1", "interrupted", res); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Get(ctx, "tenant-a", "vs-1")
		if got.State != observe.StateDone || got.Outcome != "interrupted" || got.EndedAt == nil || got.Owner != "" {
			t.Errorf("finished session: %+v", got)
		}
		if c, err := s.Claim(ctx, "p2", res.Add(time.Hour), res.Add(2*time.Hour), 10); err != nil || len(c) != 0 {
			t.Errorf("claim a done session: %+v, %v", c, err)
		}
	})
}

func TestObserveStoreTakeover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC)
		if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: "tenant-a", Name: "a", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.NewObserveStore(db)
		for _, id := range []string{"vs-1", "vs-2", "vs-3"} {
			if err := s.Register(ctx, observe.Target{TenantID: "tenant-a", SessionID: id, UpstreamID: "sesn_" + id}, "", at, at); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := s.Claim(ctx, "dead", at, at.Add(10*time.Second), 2); err != nil || len(c) != 2 {
			t.Fatalf("dead claims 2: %d, %v", len(c), err)
		}
		// A session registered with a lease is not claimable by others.
		if err := s.Register(ctx, observe.Target{TenantID: "tenant-a", SessionID: "vs-4", UpstreamID: "sesn_4"}, "creator", at, at.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		c, err := s.Claim(ctx, "alive", at.Add(time.Second), at.Add(11*time.Second), 10)
		if err != nil || len(c) != 1 {
			t.Fatalf("alive claims the free one: %d, %v", len(c), err)
		}
		// The dead process stops renewing; after its lease lapses the
		// survivor takes its sessions, and the dead one's writes fail.
		c, err = s.Claim(ctx, "alive", at.Add(20*time.Second), at.Add(50*time.Second), 10)
		if err != nil || len(c) != 3 {
			t.Fatalf("alive after the lapse: %d sessions, %v; want all 3", len(c), err)
		}
		if held, _ := s.Renew(ctx, "dead", []string{"vs-1", "vs-2", "vs-3"}, at.Add(time.Hour)); len(held) != 0 {
			t.Errorf("dead still holds %v", held)
		}
		if err := s.Commit(ctx, observe.Batch{SessionID: c[0].SessionID, Owner: "dead", At: at}); !errors.Is(err, observe.ErrLeaseLost) {
			t.Errorf("dead commits: %v", err)
		}
		if err := s.Release(ctx, "alive", "vs-1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.ClaimSession(ctx, "vs-1", "next", at.Add(21*time.Second), at.Add(60*time.Second)); err != nil || !ok {
			t.Errorf("claim a released session: ok=%v err=%v", ok, err)
		}
	})
}

// Pruning deletes the consumer state of sessions that ended before the
// cut — events, tool uses, the session row — and nothing of the others.
func TestObserveStorePrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 4, 11, 14, 30, 0, 0, time.UTC)
		if err := sqlstore.NewAuthStore(db).CreateTenant(ctx, auth.Tenant{ID: "tenant-a", Name: "a", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.NewObserveStore(db)
		session := func(id string, endedAt time.Time) {
			t.Helper()
			if err := s.Register(ctx, observe.Target{TenantID: "tenant-a", SessionID: id, UpstreamID: "sesn_" + id, StartedAt: at}, "p1", at, at.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			tu := observe.ToolUse{SessionID: id, ToolUseID: "use-" + id, TenantID: "tenant-a", Tool: "bash", UsedAt: at, ActionID: "act-" + id}
			if err := s.Commit(ctx, observe.Batch{SessionID: id, Owner: "p1", At: at, Cursor: at, NextSeq: 2,
				Events:   []observe.Event{{SessionID: id, EventID: "ev-" + id, TenantID: "tenant-a", Seq: 1, Type: "agent.tool_use", ProcessedAt: at, ReceivedAt: at}},
				ToolUses: []observe.ToolUse{tu}}); err != nil {
				t.Fatal(err)
			}
			if !endedAt.IsZero() {
				if err := s.Finish(ctx, "p1", id, "interrupted", endedAt); err != nil {
					t.Fatal(err)
				}
			}
		}
		session("vs-old", at.Add(time.Hour))
		session("vs-recent", at.Add(72*time.Hour))
		session("vs-active", time.Time{})
		n, err := s.PruneDone(ctx, at.Add(24*time.Hour), 10)
		if err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want 1", n, err)
		}
		if _, err := s.Get(ctx, "tenant-a", "vs-old"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("pruned session: %v, want not found", err)
		}
		if c, err := s.CountEvents(ctx, "vs-old", "agent.tool_use"); err != nil || c != 0 {
			t.Errorf("pruned session keeps %d events (%v)", c, err)
		}
		if _, err := s.ToolUseByAction(ctx, "tenant-a", "act-vs-old"); err == nil {
			t.Error("pruned session keeps its tool use")
		}
		for _, id := range []string{"vs-recent", "vs-active"} {
			if _, err := s.ToolUseByAction(ctx, "tenant-a", "act-"+id); err != nil {
				t.Errorf("%s: tool use: %v", id, err)
			}
			if _, err := s.Get(ctx, "tenant-a", id); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if c, err := s.CountEvents(ctx, id, "agent.tool_use"); err != nil || c != 1 {
				t.Errorf("%s keeps %d events (%v), want 1", id, c, err)
			}
		}
		if n, err := s.PruneDone(ctx, at.Add(24*time.Hour), 10); err != nil || n != 0 {
			t.Errorf("second prune: %d, %v", n, err)
		}
	})
}
