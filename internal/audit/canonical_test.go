package audit_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// canonicalCorpus is JSON (and not quite JSON) in and out of RFC 8785
// form: the shapes the gateway writes, and every way a document can miss
// the canonical form by a little.
var canonicalCorpus = []string{
	// Canonical.
	`{}`, `[]`, `""`, `0`, `-1`, `1`, `true`, `false`, `null`, `{"a":null}`,
	`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `[1,"a",{"":0},[]]`,
	`{"":1,"a":2}`, `{"A":1,"_":2,"a":3}`, `123456789012345`, `-123456789012345`,
	`0.5`, `-0.5`, `1e+21`, `1e-7`, `1.5e-7`, `0.000001`, `123456789012345680000`, `9007199254740992`,
	`"é"`, `"a\"b\\c"`, `"\b\f\n\r\t"`, `"\u0000\u001f\u000b"`, "\"\x7f\"", `"😀"`, `"\ufffd"`, "\"\uFFFD\"",
	`{"é":1}`, `{"a\"":1}`, `{"😀":1,"\ue000":2}`,
	`{"input":{"call":{"arguments":null,"tool":"x"},"time":"2026-04-11T14:00:00.000001Z"},"latency_us":{"connector":0,"policy":95,"total":240}}`,
	`{"latency_us":{"connector":180,"policy":95,"total":420}}`,
	// Not canonical, but valid.
	` {}`, `{} `, `{ }`, `[ ]`, `{"a" :1}`, `{"a": 1}`, `[1, 2]`, `{"b":1,"a":2}`, `{"a":1,"A":2}`,
	`-0`, `-0.0`, `0.0`, `1.0`, `1E2`, `1e2`, `1e+2`, `100e-2`, `1.50`, `0.1e1`, `1e-6`, `1E-7`, `1e21`,
	`1234567890123456`, `12345678901234567890`, `9007199254740993`, `1e400`, `-1e400`, `1e-400`,
	`"\/"`, `"\u0041"`, `"\u00e9"`, `"\u00E9"`, `"\u000a"`, `"\u0008"`, `"\u001F"`, `"\ud83d\ude00"`,
	`{"\u0061":1}`, `{"\ue000":1,"😀":2}`, `{"b":{"d":1,"c":2},"a":0}`, "\"\u2028\"",
	`"<&>"`, `"\u003c"`,
	// Not JSON.
	``, ` `, `{`, `}`, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a":1,"a":2}`, `{"a":1}{}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `--1`, `0x10`, `NaN`, `Infinity`, `tru`, `nul`, `True`,
	"\"\x00\"", "\"\x1f\"", "\"\xff\"", "\"\xed\xa0\x80\"", "\"a", `"\`, `"\u12"`, `"\x"`, `"\ud800"`, `'a'`,
	"{\"a\":1}\x00", `{0":0}`, `{a:1}`, `{"a"`, `{"a":`, `{"a":1`, `[1`, `{"a":1 }`, `[1 ]`, strings.Repeat("[", 300) + strings.Repeat("]", 300),
	strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300),
}

// TestIsCanonical checks the canonical check against Canonicalize: a
// document it accepts must be one Canonicalize leaves unchanged.
func TestIsCanonical(t *testing.T) {
	for _, doc := range canonicalCorpus {
		checkCanonical(t, []byte(doc))
	}
	// What the check must accept, or the fast path is lost.
	for _, doc := range []string{`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `0.5`, `1e+21`, `"\u0000\n"`, `{"":0}`} {
		if !audit.IsCanonical([]byte(doc)) {
			t.Errorf("IsCanonical(%s) = false, want true", doc)
		}
	}
}

func checkCanonical(t *testing.T, doc []byte) {
	t.Helper()
	if !audit.IsCanonical(doc) {
		return
	}
	v := jsontext.Value(bytes.Clone(doc))
	if err := v.Canonicalize(); err != nil || !bytes.Equal(v, doc) {
		t.Errorf("IsCanonical(%q) = true, but Canonicalize gives %q, %v", doc, v, err)
	}
}

// FuzzIsCanonical: go test ./internal/audit -run '^$' -fuzz FuzzIsCanonical
func FuzzIsCanonical(f *testing.F) {
	for _, doc := range canonicalCorpus {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkCanonical(t, doc)
		// And the canonical form of anything is accepted, unless it has
		// names that are not plain ASCII.
		v := jsontext.Value(bytes.Clone(doc))
		if v.Canonicalize() == nil && !audit.IsCanonical(v) && !hasUnplainName(v) && !tooDeep(v) {
			t.Errorf("IsCanonical(Canonicalize(%q) = %q) = false", doc, v)
		}
	})
}

// hasUnplainName reports whether a canonical document has an object
// member name that is not printable ASCII without escapes.
func hasUnplainName(v jsontext.Value) bool {
	d := jsontext.NewDecoder(bytes.NewReader(v))
	for {
		k, n := d.StackIndex(d.StackDepth())
		tok, err := d.ReadToken()
		if err != nil {
			return false
		}
		if k != '{' || n%2 != 0 {
			continue
		}
		for _, c := range []byte(tok.String()) {
			if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
				return true
			}
		}
	}
}

func tooDeep(v jsontext.Value) bool {
	depth, most := 0, 0
	inString := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			depth++
			most = max(most, depth)
		case !inString && (c == '}' || c == ']'):
			depth--
		}
	}
	return most > 200
}

// TestCanonicalJSONUnchanged compares the normalisation of a record's
// JSON fields with the one every stored record so far went through
// (Canonicalize on every value, the code before the canonical check):
// same bytes, same errors.
func TestCanonicalJSONUnchanged(t *testing.T) {
	docs := append([]string(nil), canonicalCorpus...)
	for i := range 6 {
		r := governed("t1", i)
		docs = append(docs, string(r.Detail), string(r.ArgsRedacted))
		e := event("t1", i)
		docs = append(docs, string(e.Detail), string(e.ArgsRedacted), string(e.Anomaly))
	}
	docs = append(docs, `"`+strings.Repeat("x", audit.MaxJSONBytes-2)+`"`, `"`+strings.Repeat("x", audit.MaxJSONBytes-1)+`"`,
		` "`+strings.Repeat("x", audit.MaxJSONBytes-2)+`"`, ` "`+strings.Repeat("x", audit.MaxJSONBytes-1)+`"`, ` null`)
	for _, doc := range docs {
		raw := json.RawMessage(doc)
		got, gotErr := audit.CanonicalJSON("detail", raw)
		want, wantErr := oldCanonicalJSON("detail", raw)
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) ||
			gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Errorf("canonicalJSON(%.80q) = %.80q, %v; before: %.80q, %v", doc, got, gotErr, want, wantErr)
		}
		if (got == nil) != (want == nil) {
			t.Errorf("canonicalJSON(%.80q) = %#v, before %#v (nil and empty differ)", doc, got == nil, want == nil)
		}
		if len(got) > 0 && len(raw) > 0 && &got[0] == &raw[0] {
			t.Errorf("canonicalJSON(%.80q) shares memory with its input", doc)
		}
	}
}

// oldCanonicalJSON is canonicalJSON as it was before the canonical check.
func oldCanonicalJSON(field string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v := jsontext.Value(append([]byte(nil), raw...))
	if err := v.Canonicalize(); err != nil {
		return nil, vargate.Invalid(field, "invalid JSON: %v", err)
	}
	if string(v) == "null" {
		return nil, nil
	}
	if len(v) > audit.MaxJSONBytes {
		return nil, vargate.Invalid(field, "longer than %d bytes", audit.MaxJSONBytes)
	}
	return json.RawMessage(v), nil
}

// TestNormalizeCanonicalisesDetail: a detail that did not come from the
// canonical writers is still brought to canonical form, whatever the way
// it misses it.
func TestNormalizeCanonicalisesDetail(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"a": 1}`, `{"a":1}`},
		{` {"a":1}`, `{"a":1}`},
		{`{"a":1.0,"b":1E2,"c":-0}`, `{"a":1,"b":100,"c":0}`},
		{`{"a":"\u00e9\/\u0041"}`, `{"a":"é/A"}`},
		{`{"a":"<&>"}`, `{"a":"<&>"}`},
		{`{"a":"\u003c\u000A"}`, `{"a":"<\n"}`},
		{`{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"z":{"b":[1,{"d":1,"c":2}],"a":0}}`, `{"z":{"a":0,"b":[1,{"c":2,"d":1}]}}`},
	} {
		rec := sampleRecord()
		rec.Detail = json.RawMessage(tt.in)
		if err := rec.Normalize(); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if string(rec.Detail) != tt.want {
			t.Errorf("detail %s normalised to %s, want %s", tt.in, rec.Detail, tt.want)
		}
	}
	// The canonical writers' output is kept as it is, and the record
	// does not share it.
	d := audit.OutcomeDetail{Error: "a\tb<é>", Latency: audit.Latency{PolicyUS: 1, ConnectorUS: 2, TotalUS: 3}}
	raw, err := d.EncodeDetail()
	if err != nil {
		t.Fatal(err)
	}
	rec := sampleRecord()
	rec.Detail = raw
	if err := rec.Normalize(); err != nil {
		t.Fatal(err)
	}
	if want := `{"error":"a\tb<é>","latency_us":{"connector":2,"policy":1,"total":3}}`; string(rec.Detail) != want {
		t.Errorf("detail = %s, want %s", rec.Detail, want)
	}
	raw[2] = 'X'
	if rec.Detail[2] == 'X' {
		t.Error("the normalised detail shares memory with the caller's")
	}
}
