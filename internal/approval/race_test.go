package approval_test

import (
	"sync"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
)

// TestConcurrentDecisions races many approvers and rejecters, spread over
// two gateway processes sharing the database, on each of several actions:
// exactly one decision wins, the rest get a conflict, and an approved
// action runs exactly once.
func TestConcurrentDecisions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		gateways := []*approval.Service{e.svc, e.service(t)}
		const actions, deciders = 10, 16
		approvedWins := 0
		for i := range actions {
			a := e.enqueue(t, false)
			before := e.exec.count()
			var mu sync.Mutex
			wins, conflicts := map[approval.Status]int{}, 0
			var wg sync.WaitGroup
			start := make(chan struct{})
			for d := range deciders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					svc := gateways[d%2]
					var got approval.Action
					var err error
					if (d+i)%2 == 0 {
						got, err = svc.Approve(ctx, e.principal(vargate.RoleApprover), a.ID, "")
					} else {
						got, err = svc.Reject(ctx, e.principal(vargate.RoleAdmin), a.ID, "no")
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins[got.Status]++
					case vargate.IsKind(err, vargate.KindConflict):
						conflicts++
					default:
						t.Errorf("decider %d: %v", d, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			total := wins[approval.StatusExecuted] + wins[approval.StatusRejected]
			if total != 1 || conflicts != deciders-1 {
				t.Fatalf("action %d: wins %v, conflicts %d; want one winner", i, wins, conflicts)
			}
			ran := e.exec.count() - before
			want := wins[approval.StatusExecuted]
			approvedWins += want
			if ran != want {
				t.Fatalf("action %d: executed %d times, want %d", i, ran, want)
			}
			got, err := e.svc.Get(ctx, e.ten, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(got.History); (want == 1 && n != 4) || (want == 0 && n != 2) {
				t.Errorf("action %d: history %v", i, statuses(got.History))
			}
		}
		t.Logf("%d of %d actions approved, %d executions", approvedWins, actions, e.exec.count())
	})
}
