package audit_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

func sampleRecord() audit.Record {
	return audit.Record{
		TenantID:      "tenant-a",
		Seq:           7,
		Time:          time.Date(2026, 4, 11, 14, 30, 0, 123456000, time.UTC),
		Source:        audit.SourceMCPGoverned,
		SessionID:     "sess-1",
		AgentID:       "agent-1",
		ActionID:      "act-1",
		Tool:          "send_email",
		Decision:      "deny",
		PolicyVersion: "v3",
		DecisionID:    "dec-1",
		Reasons:       []string{"external recipient"},
		ArgsDigest:    "sha256:00",
		ArgsRedacted:  json.RawMessage(`{"to":"[REDACTED]"}`),
		ResultDigest:  "sha256:11",
		Anomaly:       json.RawMessage(`{"score":0.25}`),
		Actor:         "key-1",
		Detail:        json.RawMessage(`{"note":"x"}`),
		PrevHash:      audit.Hash{1, 2, 3},
	}
}

// TestHashVector pins the canonical encoding: if this hash changes, every
// existing chain stops verifying. The vector is repeated in docs/AUDIT.md.
func TestHashVector(t *testing.T) {
	rec := sampleRecord()
	const want = "2a56ab1b7b25fa27358129b95341f6dc3cd5464d9d822cbd51ad457e1d998d58"
	if got := rec.ComputeHash().String(); got != want {
		t.Errorf("hash of the sample record = %s, want %s", got, want)
	}
	// The same record as docs/AUDIT.md prints it, with its JSON fields
	// spaced out: Normalize brings them back to canonical form.
	const doc = `{"tenant_id":"tenant-a","seq":7,"time":"2026-04-11T14:30:00.123456Z","source":"mcp_governed",
	 "session_id":"sess-1","agent_id":"agent-1","action_id":"act-1","tool":"send_email","decision":"deny",
	 "policy_version":"v3","decision_id":"dec-1","reasons":["external recipient"],"args_digest":"sha256:00",
	 "args_redacted":{ "to" : "[REDACTED]" },"result_digest":"sha256:11","anomaly":{"score":2.5e-1},
	 "actor":"key-1","detail":{"note":"x"},
	 "prev_hash":"0102030000000000000000000000000000000000000000000000000000000000"}`
	var fromDoc audit.Record
	if err := json.Unmarshal([]byte(doc), &fromDoc); err != nil {
		t.Fatal(err)
	}
	if err := fromDoc.Normalize(); err != nil {
		t.Fatal(err)
	}
	if got := fromDoc.ComputeHash().String(); got != want {
		t.Errorf("hash of the documented record = %s, want %s", got, want)
	}
}

// Every field except Hash is covered by the hash: changing any one of them
// changes it. Walking the struct by reflection makes a field added later
// fail here until Encode covers it.
func TestHashCoversEveryField(t *testing.T) {
	base := sampleRecord()
	h0 := base.ComputeHash()
	typ := reflect.TypeOf(base)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Name == "Hash" {
			continue
		}
		rec := sampleRecord()
		v := reflect.ValueOf(&rec).Elem().Field(i)
		switch x := v.Addr().Interface().(type) {
		case *string:
			*x += "x"
		case *audit.Source:
			*x = audit.SourceApproval
		case *int64:
			*x++
		case *time.Time:
			*x = x.Add(time.Microsecond)
		case *[]string:
			*x = append(*x, "another")
		case *json.RawMessage:
			*x = json.RawMessage(`{"changed":true}`)
		case *audit.Hash:
			x[31] ^= 1
		case *audit.Outcome:
			*x = audit.OutcomeFailed
		default:
			t.Fatalf("field %s has type %s, which this test does not know how to change", f.Name, f.Type)
		}
		if rec.ComputeHash() == h0 {
			t.Errorf("changing %s did not change the hash", f.Name)
		}
	}
	// Setting an outcome moves the record to layout v2, and the v2 hash
	// differs from the v1 hash whatever the outcome: stripping it is an
	// alteration.
	v2 := sampleRecord()
	v2.Outcome = audit.OutcomeExecuted
	if v2.ComputeHash() == h0 {
		t.Error("an outcome did not change the hash")
	}
	if enc := v2.Encode(nil); string(enc[:16]) != "vargate.audit.v2" {
		t.Errorf("a record with an outcome starts %q, want the v2 tag", enc[:16])
	}
	// Length prefixes keep adjacent fields from trading bytes.
	a, b := sampleRecord(), sampleRecord()
	a.SessionID, a.AgentID = "ab", "c"
	b.SessionID, b.AgentID = "a", "bc"
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("moving a byte between adjacent fields kept the hash")
	}
	a, b = sampleRecord(), sampleRecord()
	a.Reasons, b.Reasons = []string{"a", "b"}, []string{"a\x00\x00\x00\x01b"}
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("splitting a reason kept the hash")
	}
}

func TestNormalize(t *testing.T) {
	rec := sampleRecord()
	rec.Time = time.Date(2026, 4, 11, 16, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	rec.ArgsRedacted = json.RawMessage(" { \"b\" : 1.0, \"a\": \"<\\u00e9>\" } ")
	rec.Anomaly = json.RawMessage("null")
	rec.Reasons = []string{}
	if err := rec.Normalize(); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 4, 11, 14, 30, 0, 123456000, time.UTC); !rec.Time.Equal(want) || rec.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v in UTC", rec.Time, want)
	}
	if got, want := string(rec.ArgsRedacted), `{"a":"<é>","b":1}`; got != want {
		t.Errorf("args = %s, want %s (RFC 8785)", got, want)
	}
	if rec.Anomaly != nil || rec.Reasons != nil {
		t.Errorf("null anomaly / empty reasons = %q / %#v, want nil", rec.Anomaly, rec.Reasons)
	}

	bad := []struct {
		name  string
		field string
		edit  func(*audit.Record)
	}{
		{"no tenant", "tenant_id", func(r *audit.Record) { r.TenantID = "" }},
		{"unknown source", "source", func(r *audit.Record) { r.Source = "direct" }},
		{"no time", "time", func(r *audit.Record) { r.Time = time.Time{} }},
		{"long tool", "tool", func(r *audit.Record) { r.Tool = strings.Repeat("x", audit.MaxStringBytes+1) }},
		{"invalid utf-8", "actor", func(r *audit.Record) { r.Actor = "\xff" }},
		{"bad json", "detail", func(r *audit.Record) { r.Detail = json.RawMessage(`{"a":}`) }},
		{"duplicate names", "anomaly", func(r *audit.Record) { r.Anomaly = json.RawMessage(`{"a":1,"a":2}`) }},
		{"too many reasons", "reasons", func(r *audit.Record) { r.Reasons = make([]string, audit.MaxReasons+1) }},
	}
	for _, tt := range bad {
		rec := sampleRecord()
		tt.edit(&rec)
		err := rec.Normalize()
		var ve *vargate.Error
		if !vargate.IsKind(err, vargate.KindInvalid) || !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("%s: got %v, want invalid %s", tt.name, err, tt.field)
		}
	}
}

func TestHashJSON(t *testing.T) {
	var h audit.Hash
	h[0], h[31] = 0xab, 0x01
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"ab` + strings.Repeat("00", 30) + `01"`; string(b) != want {
		t.Errorf("hash JSON = %s, want %s", b, want)
	}
	var back audit.Hash
	if err := json.Unmarshal(b, &back); err != nil || back != h {
		t.Errorf("round trip = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"abc"`), &back); err == nil {
		t.Error("short hash accepted")
	}
}

func TestDigest(t *testing.T) {
	a := audit.Digest([]byte(`{"b":1, "a":"\u00e9", "c":[1.0, 1e2]}`))
	b := audit.Digest([]byte(`{"a":"é","c":[1,100],"b":1}`))
	if a != b || !strings.HasPrefix(a, audit.DigestPrefix) {
		t.Errorf("equal documents: %s, %s", a, b)
	}
	if a == audit.Digest([]byte(`{"a":"é","c":[1,100],"b":2}`)) {
		t.Error("different documents share a digest")
	}
	// RFC 8785 test vector: the canonical form of this document is
	// {"a":"é","b":1,"c":[1,100]}.
	if want := audit.DigestCanonical([]byte(`{"a":"é","b":1,"c":[1,100]}`)); a != want {
		t.Errorf("digest %s, want %s", a, want)
	}
	for _, bad := range []string{`{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `{"a":`} {
		if d := audit.Digest([]byte(bad)); d != audit.BytesDigest([]byte(bad)) {
			t.Errorf("Digest(%q) = %s, want the bytes digest", bad, d)
		}
	}
}
