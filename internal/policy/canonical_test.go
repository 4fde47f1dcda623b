package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
)

// oldDetail is how a governed record's detail was encoded before the
// canonical writers: encoding/json, then RFC 8785 (Normalize).
func oldDetail(t testing.TB, d audit.GovernedDetail) []byte {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return canon(t, b)
}

func canon(t testing.TB, b []byte) []byte {
	t.Helper()
	v := jsontext.Value(bytes.Clone(b))
	if err := v.Canonicalize(); err != nil {
		t.Fatalf("canonicalize %s: %v", b, err)
	}
	return v
}

// checkDetail checks that the canonical writer gives byte for byte the
// detail the old encoding stored, and that it needs no further
// canonicalisation.
func checkDetail(t testing.TB, d audit.GovernedDetail) {
	t.Helper()
	got, err := d.EncodeDetail()
	if err != nil {
		t.Fatalf("EncodeDetail: %v", err)
	}
	want := oldDetail(t, d)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeDetail differs from encoding/json + RFC 8785:\n got %s\nwant %s", got, want)
	}
	// And the record that holds it is the same record.
	for _, detail := range [][]byte{got, want} {
		rec := audit.Record{TenantID: "t", Time: time.Unix(1, 0), Source: audit.SourceMCPGoverned, Detail: detail}
		if err := rec.Normalize(); err != nil || !bytes.Equal(rec.Detail, want) {
			t.Fatalf("normalized detail %s, %v; want %s", rec.Detail, err, want)
		}
	}
}

var oddStrings = []string{
	"", "plain", `quote " backslash \ slash /`, "<html> & 'apos'", "tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f",
	"é ü 日本語 🎉", "\u2028\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate bytes", "ends with \xe2\x82",
	strings.Repeat("long ", 50),
}

var oddFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 420, 420.5, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 1.2345e21,
	123456789012345678, math.MaxFloat64, math.SmallestNonzeroFloat64, 1.0 / 3, 0.999999,
}

func randString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return oddStrings[r.IntN(len(oddStrings))]
	}
	n := r.IntN(12)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func randStrings(r *rand.Rand) []string {
	if r.IntN(4) == 0 {
		return nil
	}
	ss := make([]string, r.IntN(4))
	for i := range ss {
		ss[i] = randString(r)
	}
	return ss
}

func randInt(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return r.IntN(100)
	case 2:
		return -r.IntN(1000)
	}
	return int(r.Int64()) // beyond 2^53, mostly
}

func randInput(r *rand.Rand) *Input {
	in := &Input{
		Tenant: Tenant{ID: randString(r)},
		Agent: Agent{
			ID: randString(r), AllowedTools: randStrings(r), RequireHumanApproval: randStrings(r),
			GovernanceProfile: GovernanceProfile{RiskLevel: randString(r), PIIDetection: r.IntN(2) == 0},
			Delegation:        Delegation{Depth: randInt(r), MaxDepth: randInt(r)},
		},
		Session: Session{ID: randString(r), AgeSeconds: oddFloats[r.IntN(len(oddFloats))], Calls: randInt(r),
			Denials: randInt(r), AnomalyScore: r.Float64()},
		Call: Call{Tool: randString(r), ArgumentsDigest: randString(r)},
		Time: time.Unix(r.Int64N(1<<35), r.Int64N(1e9)).UTC(),
	}
	if r.IntN(2) == 0 {
		in.Session.AnomalyScore = oddFloats[r.IntN(len(oddFloats))]
	}
	if r.IntN(3) == 0 {
		in.Call.Upstream = randString(r)
		in.Call.Annotations = &Annotations{ReadOnly: r.IntN(2) == 0, Destructive: r.IntN(2) == 0, Idempotent: r.IntN(2) == 0, OpenWorld: r.IntN(2) == 0}
	}
	if r.IntN(3) == 0 {
		in.Call.Arguments = json.RawMessage(`{"z":1,"a":[1e2,"<x>"],"m":{"b":null,"a":true}}`)
	}
	if r.IntN(4) == 0 {
		in.Time = in.Time.In(time.FixedZone("x", 5*3600+1800))
	}
	for range r.IntN(3) {
		in.PII = append(in.PII, pii.Finding{Kind: pii.Kind(randString(r)), Detector: randString(r), Path: randString(r), Field: randString(r)})
	}
	return in
}

// TestCanonicalDetailSameAsBefore: a governed record's detail written by
// the canonical writers is byte for byte the one encoding/json and RFC
// 8785 canonicalisation wrote before them, so its record hashes alike.
func TestCanonicalDetailSameAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 17))
	for range 5000 {
		in := randInput(r)
		d := audit.GovernedDetail{Latency: audit.Latency{PolicyUS: int64(randInt(r)), TotalUS: int64(r.IntN(1e6))}}
		if r.IntN(3) > 0 {
			ri := *in
			ri.Call.Arguments = nil // as a governed record stores it
			d.Input = &ri
		}
		if r.IntN(3) == 0 {
			d.Error = randString(r)
		}
		checkDetail(t, d)
	}
	// Typed nil input: json.Marshal writes null.
	checkDetail(t, audit.GovernedDetail{Input: (*Input)(nil)})
	// The outcome record's detail too.
	for _, d := range []audit.OutcomeDetail{{}, {Error: "bad \xff <x>", Latency: audit.Latency{PolicyUS: 1, ConnectorUS: 1 << 60, TotalUS: -3}}} {
		got, err := d.EncodeDetail()
		if err != nil {
			t.Fatal(err)
		}
		old, _ := json.Marshal(d)
		if want := canon(t, old); !bytes.Equal(got, want) {
			t.Fatalf("OutcomeDetail: got %s, want %s", got, want)
		}
	}
}

// FuzzCanonicalString compares the canonical string writer with
// encoding/json followed by RFC 8785.
func FuzzCanonicalString(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDetail(t, audit.GovernedDetail{Error: s, Input: &Input{Tenant: Tenant{ID: s}, Agent: Agent{AllowedTools: []string{s, s}}}})
	})
}

// FuzzCanonicalNumber compares the canonical number writer with
// encoding/json followed by RFC 8785.
func FuzzCanonicalNumber(f *testing.F) {
	for _, x := range oddFloats {
		f.Add(x, int64(x))
	}
	f.Fuzz(func(t *testing.T, x float64, n int64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		checkDetail(t, audit.GovernedDetail{Latency: audit.Latency{TotalUS: n}, Input: &Input{
			Session: Session{AgeSeconds: x, AnomalyScore: -x, Calls: int(n)}, Agent: Agent{Delegation: Delegation{Depth: int(n)}}}})
	})
}

// TestPreparedAgent: an input whose agent was prepared evaluates and
// encodes exactly as one whose agent was not.
func TestPreparedAgent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 500 {
		in := randInput(r)
		prepared := *in
		prepared.Agent.Prepare()
		want, err := in.value()
		if err != nil {
			t.Fatal(err)
		}
		got, err := prepared.value()
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Fatalf("prepared agent's value\n%v\nwant\n%v", got, want)
		}
		gotJSON, err := prepared.AppendCanonicalJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		wantJSON, err := in.AppendCanonicalJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("prepared agent's JSON\n%s\nwant\n%s", gotJSON, wantJSON)
		}
	}
}
