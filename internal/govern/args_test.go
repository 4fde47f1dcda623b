package govern_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/tools"
)

func TestDecodeArgsRefuses(t *testing.T) {
	for _, tt := range []struct{ name, args, want string }{
		{"duplicate member", `{"a":1,"a":2}`, `duplicate object member name "a"`},
		{"nested duplicate", `{"x":{"b":1,"b":1}}`, `duplicate object member name "b"`},
		{"lone high surrogate", `{"a":"\ud800"}`, "invalid surrogate"},
		{"lone low surrogate", `{"a":"\udc00x"}`, "invalid surrogate"},
		{"invalid UTF-8 in a value", "{\"a\":\"\xff\"}", "invalid UTF-8"},
		{"invalid UTF-8 in a key", "{\"\xc3\":1}", "invalid UTF-8"},
		{"too deep", `{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "nested more than"},
		{"not an object", `[1]`, "must be a JSON object"},
		{"trailing data", `{} {}`, "after the end"},
		{"truncated", `{"a":`, "not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := govern.DecodeArgs([]byte(tt.args))
			if !vargate.IsKind(err, vargate.KindInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeArgs(%q) = %v, want KindInvalid naming %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestDecodeArgs(t *testing.T) {
	a, err := govern.DecodeArgs([]byte(`{"to":"bob@example.com","n":12345678901234567890,"ok":"\ud83d\ude00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := a.Value["n"].(json.Number); !ok || n != "12345678901234567890" {
		t.Errorf("n = %#v, want the digits as written", a.Value["n"])
	}
	if len(a.Findings) != 1 || a.Findings[0].Path != "$.to" {
		t.Errorf("findings = %+v", a.Findings)
	}
	if strings.Contains(string(a.Stored), "bob@example.com") || !strings.Contains(string(a.Stored), "[REDACTED:email]") {
		t.Errorf("stored = %s", a.Stored)
	}
	if a.Value["to"] != "bob@example.com" {
		t.Error("redaction changed the decoded value")
	}
	for _, empty := range []string{"", "null", "  "} {
		if a, err := govern.DecodeArgs([]byte(empty)); err != nil || len(a.Value) != 0 || string(a.Raw) != "{}" {
			t.Errorf("DecodeArgs(%q) = %+v, %v", empty, a, err)
		}
	}
}

// Values too large for the trail are stored as markers with their size
// and digest; the record is always writable, and the digest covers the
// full arguments.
func TestDecodeArgsOversized(t *testing.T) {
	body := strings.Repeat("é", 100_000)
	a, err := govern.DecodeArgs([]byte(`{"to":"x","body":"` + body + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.Stored), "[OVERSIZED: 200000 bytes, sha256:") || len(a.Stored) > 1000 {
		t.Errorf("stored = %.200s", a.Stored)
	}
	b, _ := govern.DecodeArgs([]byte(`{"to":"x","body":"` + body + `x"}`))
	if a.Digest == b.Digest {
		t.Error("the digest does not cover the full arguments")
	}
	many := `{"a":[` + strings.Repeat(`"0123456789",`, 40000) + `"x"]}`
	c, err := govern.DecodeArgs([]byte(many))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(c.Stored), `"[OVERSIZED: `) || !strings.Contains(string(c.Stored), c.Digest) {
		t.Errorf("stored = %.200s", c.Stored)
	}
	rec := audit.Record{TenantID: "t", Source: audit.SourceMCPGoverned, Time: time.Now(), ArgsRedacted: c.Stored}
	if err := rec.Normalize(); err != nil {
		t.Errorf("the audit writer refuses the stored arguments: %v", err)
	}
}

// Arguments the audit writer could never store are refused on a record,
// and the connector never runs.
func TestUndecodableArgumentsAreRecordedNotRun(t *testing.T) {
	for _, args := range []string{`{"query":"a","query":"b"}`, `{"query":"\ud800"}`, "{\"query\":\"\xff\"}"} {
		f := newFixture(t)
		out, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(args))
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if out.Status != govern.Invalid || !strings.Contains(out.Message, "not valid JSON") {
			t.Errorf("%q: outcome %s %q", args, out.Status, out.Message)
		}
		if len(f.search.calls) != 0 {
			t.Errorf("%q: the connector ran", args)
		}
		rec := f.audit.governed(t)
		if rec.Outcome != audit.OutcomeInvalid || rec.Decision != "deny" || rec.ArgsDigest == "" || len(f.audit.recs) != 1 {
			t.Errorf("%q: record %+v", args, rec)
		}
	}
}

// A record the writer refuses (here: the writer is down) means nothing
// runs; an allowed call is recorded before its connector runs.
func TestNothingRunsWithoutRecord(t *testing.T) {
	f := newFixture(t)
	f.audit.fail = vargate.Errorf(vargate.KindUnavailable, "audit log is closed")
	if _, err := f.gov.Call(t.Context(), f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`)); err == nil {
		t.Error("no error")
	}
	if _, err := f.gov.Call(t.Context(), f.p, tools.SendEmail, json.RawMessage(`{"to":"bob@example.com","subject":"s","body":"b"}`)); err == nil {
		t.Error("no error")
	}
	if len(f.search.calls) != 0 || len(f.queue.reqs) != 0 || len(f.events.names) != 0 {
		t.Errorf("acted without a record: %d runs, %d queued, %v", len(f.search.calls), len(f.queue.reqs), f.events.names)
	}
}

// blocking is a connector that waits for its call's context to end.
type blocking struct{ started chan struct{} }

func (b blocking) Call(ctx context.Context, c *tools.Call) (tools.Result, error) {
	close(b.started)
	<-ctx.Done()
	return tools.Result{}, ctx.Err()
}

func TestCancellation(t *testing.T) {
	t.Run("before the call is decided", func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		out, err := f.gov.Call(ctx, f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != govern.Cancelled || len(f.search.calls) != 0 {
			t.Errorf("outcome %s, %d runs", out.Status, len(f.search.calls))
		}
		if rec := f.audit.last(t); rec.Source != audit.SourceMCPGoverned || rec.Outcome != audit.OutcomeCancelled || len(f.audit.recs) != 1 {
			t.Errorf("record %+v", rec)
		}
	})
	t.Run("while the connector runs", func(t *testing.T) {
		f := newFixture(t)
		b := blocking{started: make(chan struct{})}
		f.search.hook = b
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-b.started; cancel() }()
		out, err := f.gov.Call(ctx, f.p, tools.WebSearch, json.RawMessage(`{"query":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != govern.Cancelled || !strings.Contains(out.Message, "may or may not") {
			t.Errorf("outcome %s %q", out.Status, out.Message)
		}
		gov, fin := f.audit.governed(t), f.audit.last(t)
		if gov.Outcome != audit.OutcomeExecuting || fin.Source != audit.SourceMCPOutcome || fin.Outcome != audit.OutcomeCancelled {
			t.Errorf("records %+v, %+v", gov, fin)
		}
	})
}

// An approved action re-checks, at the moment it runs, that its session
// is live and the agent's current configuration still allows the tool;
// a refusal runs nothing and carries the reason.
func TestExecuteApprovedRechecksLiveness(t *testing.T) {
	for _, reason := range []string{
		"session_ended: session vs-1 is interrupted",
		"agent_archived: agent agent-a1 is archived",
		"tool_not_allowed: the current configuration of agent agent-a1 no longer allows vargate_web_search",
	} {
		f := newFixture(t)
		f.configs.live = reason
		a := approval.Action{ID: "act-1", TenantID: "tenant-1", AgentID: "agent-a1", SessionID: "vs-1", Tool: tools.WebSearch,
			Args: json.RawMessage(`{"query":"x"}`), DecidedBy: "key-approver"}
		_, err := f.gov.ExecuteApproved(t.Context(), a)
		var pd *approval.PolicyDeniedError
		if !errors.As(err, &pd) || len(pd.Reasons) != 1 || pd.Reasons[0] != reason {
			t.Errorf("%s: err = %v", reason, err)
		}
		if len(f.search.calls) != 0 {
			t.Errorf("%s: the connector ran", reason)
		}
	}
	f := newFixture(t)
	a := approval.Action{ID: "act-2", TenantID: "tenant-1", AgentID: "agent-a1", SessionID: "vs-1", Tool: tools.WebSearch,
		Args: json.RawMessage(`{"query":"x"}`), DecidedBy: "key-approver"}
	if _, err := f.gov.ExecuteApproved(t.Context(), a); err != nil || len(f.search.calls) != 1 || f.search.calls[0].ActionID != "act-2" {
		t.Errorf("live action: %v, %d runs", err, len(f.search.calls))
	}
}

// FuzzDecodeArgs: whatever the bytes, DecodeArgs either refuses them
// (KindInvalid) or returns arguments whose stored copy the audit writer
// accepts, with a digest of the full arguments.
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"to":"bob@example.com","n":4111111111111111}`,
		`{"a":[` + strings.Repeat(`"x",`, 100) + `1]}`, `{"k":1e400}`, `{"a":{"b":{"c":"\u2028<>&"}}}`, `[]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := govern.DecodeArgs(raw)
		if err != nil {
			if !vargate.IsKind(err, vargate.KindInvalid) {
				t.Fatalf("error of kind %v: %v", vargate.KindOf(err), err)
			}
			return
		}
		if !strings.HasPrefix(a.Digest, audit.DigestPrefix) || a.Value == nil {
			t.Fatalf("args %+v", a)
		}
		rec := audit.Record{TenantID: "t", Source: audit.SourceMCPGoverned, Time: time.Now(), ArgsDigest: a.Digest, ArgsRedacted: a.Stored}
		if err := rec.Normalize(); err != nil {
			t.Fatalf("the writer refuses the stored arguments %.200q: %v", a.Stored, err)
		}
		if a.Digest != audit.Digest(a.Raw) {
			t.Fatalf("digest %s, audit.Digest %s", a.Digest, audit.Digest(a.Raw))
		}
	})
}
