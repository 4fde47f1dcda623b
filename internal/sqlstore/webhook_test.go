package sqlstore_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/webhook"
)

func TestWebhookSettingsStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		approvalTenant(t, db, "ten-a")
		s := sqlstore.NewWebhookStore(db)
		if _, err := s.Settings(ctx, "ten-a"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Fatalf("no settings: got %v, want not found", err)
		}
		at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		st := webhook.StoredSettings{Settings: webhook.Settings{TenantID: "ten-a", URL: "https://example.com/h",
			CreatedAt: at, UpdatedAt: at}, SecretSealed: []byte{9, 8, 7}}
		if err := s.PutSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		got, err := s.Settings(ctx, "ten-a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st, got); diff != "" {
			t.Errorf("settings (-want +got):\n%s", diff)
		}
		st.URL, st.Events, st.UpdatedAt = "https://example.org/x", []string{webhook.EventDenied}, at.Add(time.Hour)
		st.CreatedAt = at.Add(time.Hour) // ignored on update
		if err := s.PutSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Settings(ctx, "ten-a")
		st.CreatedAt = at
		if diff := cmp.Diff(st, got); diff != "" {
			t.Errorf("updated settings (-want +got):\n%s", diff)
		}
		if err := s.DeleteSettings(ctx, "ten-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Settings(ctx, "ten-a"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("after delete: got %v, want not found", err)
		}
	})
}

func TestWebhookOutboxStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		approvalTenant(t, db, "ten-a")
		approvalTenant(t, db, "ten-b")
		s := sqlstore.NewWebhookStore(db)
		at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		msg := func(i int, tenant string) webhook.Message {
			return webhook.Message{ID: fmt.Sprintf("msg-%02d", i), TenantID: tenant, Event: webhook.EventDenied,
				Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), Status: webhook.StatusPending,
				CreatedAt: at.Add(time.Duration(i) * time.Second), NextAttemptAt: at.Add(time.Duration(i) * time.Second),
				GiveUpAt: at.Add(24 * time.Hour)}
		}
		for i := range 10 {
			ok, err := s.InsertMessage(ctx, msg(i, "ten-a"))
			if err != nil || !ok {
				t.Fatalf("insert %d: %v, %v", i, ok, err)
			}
		}
		if ok, err := s.InsertMessage(ctx, msg(3, "ten-a")); err != nil || ok {
			t.Fatalf("duplicate insert: %v, %v; want false, nil", ok, err)
		}
		if err := s.InsertMessages(ctx, []webhook.Message{msg(4, "ten-a"), msg(10, "ten-b"), msg(11, "ten-b")}); err != nil {
			t.Fatalf("batch insert with a duplicate: %v", err)
		}
		if list, _ := s.Messages(ctx, "ten-b", webhook.MessageFilter{}); len(list) != 2 {
			t.Fatalf("batch insert: tenant b has %d messages, want 2", len(list))
		}
		got, err := s.Message(ctx, "ten-a", "msg-03")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(msg(3, "ten-a"), got); diff != "" {
			t.Errorf("message (-want +got):\n%s", diff)
		}
		if _, err := s.Message(ctx, "ten-b", "msg-03"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("message through another tenant: got %v, want not found", err)
		}

		// Only due messages are claimed, and a claimed one is not claimed
		// again until its lease runs out.
		now := at.Add(4 * time.Second)
		lease := now.Add(time.Minute)
		claimed, err := s.Claim(ctx, now, lease, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) != 5 {
			t.Fatalf("claimed %d, want 5 due", len(claimed))
		}
		for _, m := range claimed {
			if m.TenantID != "ten-a" {
				t.Errorf("claimed %s of %s before it was due", m.ID, m.TenantID)
			}
		}
		for _, m := range claimed {
			if m.Attempts != 1 || !m.NextAttemptAt.Equal(lease) {
				t.Errorf("claimed %s: attempts %d, next %v", m.ID, m.Attempts, m.NextAttemptAt)
			}
		}
		if again, _ := s.Claim(ctx, now, lease, 100); len(again) != 0 {
			t.Errorf("claimed again within the lease: %d", len(again))
		}
		if again, _ := s.Claim(ctx, lease, lease.Add(time.Minute), 100); len(again) != 12 {
			t.Errorf("after the lease: %d claimed, want all 12", len(again))
		}

		a := webhook.Attempt{MessageID: "msg-00", N: 2, TenantID: "ten-a", At: lease, URL: "https://x", StatusCode: 503,
			Error: "endpoint answered 503", Duration: 1500 * time.Microsecond}
		next := lease.Add(10 * time.Second)
		if err := s.RecordAttempt(ctx, a, webhook.StatusPending, next); err != nil {
			t.Fatal(err)
		}
		m0, _ := s.Message(ctx, "ten-a", "msg-00")
		if m0.Status != webhook.StatusPending || !m0.NextAttemptAt.Equal(next) || m0.LastStatusCode != 503 ||
			m0.LastError != a.Error || !m0.LastAttemptAt.Equal(lease) || m0.FinishedAt != nil {
			t.Errorf("after a failed attempt: %+v", m0)
		}
		a2 := a
		a2.N, a2.StatusCode, a2.Error, a2.At = 3, 200, "", next
		if err := s.RecordAttempt(ctx, a2, webhook.StatusDelivered, next); err != nil {
			t.Fatal(err)
		}
		m0, _ = s.Message(ctx, "ten-a", "msg-00")
		if m0.Status != webhook.StatusDelivered || m0.FinishedAt == nil || m0.LastError != "" {
			t.Errorf("after delivery: %+v", m0)
		}
		as, err := s.Attempts(ctx, "ten-a", "msg-00")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]webhook.Attempt{a, a2}, as); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if err := s.Retry(ctx, "ten-a", "msg-00", next, next); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("retry a delivered message: got %v, want conflict", err)
		}
		if err := s.RecordAttempt(ctx, webhook.Attempt{MessageID: "msg-01", N: 2, TenantID: "ten-a", At: next, Error: "x"},
			webhook.StatusFailed, next); err != nil {
			t.Fatal(err)
		}
		giveUp := next.Add(24 * time.Hour)
		if err := s.Retry(ctx, "ten-a", "msg-01", next, giveUp); err != nil {
			t.Fatal(err)
		}
		m1, _ := s.Message(ctx, "ten-a", "msg-01")
		if m1.Status != webhook.StatusPending || !m1.GiveUpAt.Equal(giveUp) || m1.FinishedAt != nil {
			t.Errorf("after retry: %+v", m1)
		}
		if err := s.Release(ctx, "msg-02", at); err != nil {
			t.Fatal(err)
		}
		if m2, _ := s.Message(ctx, "ten-a", "msg-02"); m2.Attempts != 1 || !m2.NextAttemptAt.Equal(at) {
			t.Errorf("after release: %+v", m2)
		}

		list, err := s.Messages(ctx, "ten-a", webhook.MessageFilter{Status: webhook.StatusPending, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].ID != "msg-09" {
			t.Errorf("pending list: %+v", list)
		}
		list, _ = s.Messages(ctx, "ten-a", webhook.MessageFilter{Status: webhook.StatusDelivered})
		if len(list) != 1 || list[0].ID != "msg-00" {
			t.Errorf("delivered list: %+v", list)
		}
		for _, m := range list {
			if m.TenantID != "ten-a" {
				t.Errorf("tenant a's log shows %s of %s", m.ID, m.TenantID)
			}
		}
	})
}

// TestWebhookClaimConcurrent: workers claiming at once never get the
// same message.
func TestWebhookClaimConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		approvalTenant(t, db, "ten-a")
		s := sqlstore.NewWebhookStore(db)
		at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		const n = 200
		for i := range n {
			if _, err := s.InsertMessage(ctx, webhook.Message{ID: fmt.Sprintf("m%03d", i), TenantID: "ten-a",
				Event: webhook.EventDenied, Payload: []byte(`{}`), Status: webhook.StatusPending,
				CreatedAt: at, NextAttemptAt: at, GiveUpAt: at.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ms, err := s.Claim(ctx, at, at.Add(time.Hour), 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ms) == 0 {
						return
					}
					mu.Lock()
					for _, m := range ms {
						seen[m.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("claimed %d distinct messages, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%s claimed %d times", id, c)
			}
		}
	})
}

// Pruning deletes finished deliveries older than the cut, with their
// attempts, in batches; pending ones and newer ones stay.
func TestWebhookPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		approvalTenant(t, db, "ten-a")
		s := sqlstore.NewWebhookStore(db)
		at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		finish := func(id string, status webhook.Status, when time.Time) {
			t.Helper()
			m := webhook.Message{ID: id, TenantID: "ten-a", Event: webhook.EventDenied, Payload: []byte(`{}`), Status: webhook.StatusPending,
				CreatedAt: when, NextAttemptAt: when, GiveUpAt: when.Add(24 * time.Hour)}
			if _, err := s.InsertMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			if status == webhook.StatusPending {
				return
			}
			a := webhook.Attempt{MessageID: id, N: 1, TenantID: "ten-a", At: when, URL: "https://x", StatusCode: 200}
			if err := s.RecordAttempt(ctx, a, status, when); err != nil {
				t.Fatal(err)
			}
		}
		old, recent := at, at.Add(48*time.Hour)
		finish("old-delivered-1", webhook.StatusDelivered, old)
		finish("old-delivered-2", webhook.StatusDelivered, old)
		finish("old-failed", webhook.StatusFailed, old)
		finish("old-pending", webhook.StatusPending, old)
		finish("recent-delivered", webhook.StatusDelivered, recent)
		cut := at.Add(24 * time.Hour)
		n1, err := s.PruneMessages(ctx, cut, 2)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := s.PruneMessages(ctx, cut, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n1 != 2 || n2 != 1 {
			t.Errorf("pruned %d then %d, want 2 then 1", n1, n2)
		}
		list, err := s.Messages(ctx, "ten-a", webhook.MessageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, m := range list {
			left = append(left, m.ID)
		}
		slices.Sort(left)
		if !slices.Equal(left, []string{"old-pending", "recent-delivered"}) {
			t.Errorf("left %v", left)
		}
		if as, err := s.Attempts(ctx, "ten-a", "old-failed"); err == nil && len(as) != 0 {
			t.Errorf("attempts of a pruned delivery survive: %v", as)
		}
		if as, err := s.Attempts(ctx, "ten-a", "recent-delivered"); err != nil || len(as) != 1 {
			t.Errorf("attempts of a kept delivery: %v, %v", as, err)
		}
	})
}
