package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/approval"
)

type failingExecutor struct{}

func (failingExecutor) ExecuteApproved(context.Context, approval.Action) (json.RawMessage, error) {
	return nil, errors.New("smtp: connection refused")
}

// "Recently decided" names who decided by the key's name (its ID in the
// tooltip) and gives every row's reason: the human's, or, for an approved
// action that failed, why it failed.
func TestRecentlyDecided(t *testing.T) {
	f := newFixture(t)
	ok := f.enqueue(t, "vargate_send_email", `{"to":"jane.doe@example.com","subject":"Report"}`)
	bad := f.enqueue(t, "vargate_send_email", `{"to":"john@example.com","subject":"Invoice"}`)
	b := f.browser(t)
	b.signIn(f.approverKey)
	tok := b.csrf("/ui/approvals")
	b.post("/ui/approvals/"+ok.ID+"/approve", url.Values{"csrf_token": {tok}})
	f.exec.setNext(failingExecutor{})
	b.post("/ui/approvals/"+bad.ID+"/approve", url.Values{"csrf_token": {tok}})
	failed, _ := f.queue.Get(t.Context(), f.tenant, bad.ID)
	if failed.Status != approval.StatusFailed || failed.Failure == nil || failed.Failure.Message == "" {
		t.Fatalf("the failing action is %s (%+v)", failed.Status, failed.Failure)
	}

	p := b.get("/ui/approvals")
	_, recent, found := strings.Cut(p.body, "Recently decided")
	if !found {
		t.Fatal("no Recently decided section")
	}
	rows := regexp.MustCompile(`(?s)<tr>\s*<td><a href="/ui/approvals/([^"]+)">.*?</tr>`).FindAllStringSubmatch(recent, -1)
	if len(rows) != 2 {
		t.Fatalf("%d decided rows", len(rows))
	}
	for _, row := range rows {
		cells := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(row[0], -1)
		decidedBy, reason := cells[2][1], strings.TrimSpace(cells[3][1])
		if !strings.Contains(decidedBy, ">approver<") || !strings.Contains(decidedBy, `title="key `+f.approverID+`"`) {
			t.Errorf("row %s: decided by %q, want the key's name with its ID in the tooltip", row[1], decidedBy)
		}
		if row[1] == bad.ID && (reason == "" || reason != html.EscapeString(failed.Failure.Message)) {
			t.Errorf("failed row: reason %q, want why it failed", reason)
		}
	}
}

// The base policy is a link on the policies page, and its page shows its
// sources without offering to activate it.
func TestBasePolicyPage(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn(f.adminKey)
	if p := b.get("/ui/policies"); !strings.Contains(p.body, `<a href="/ui/policies/base"><code>base</code></a>`) {
		t.Error("base is not a link on the policies page")
	}
	p := b.get("/ui/policies/base")
	if p.status != 200 || !strings.Contains(p.body, "base.rego") || !strings.Contains(p.body, "package vargate") {
		t.Fatalf("base policy page = %d", p.status)
	}
	if strings.Contains(p.body, "/ui/policies/base/activate") || strings.Contains(p.body, "0001") {
		t.Error("the base policy page offers activation or shows an upload time")
	}
}
