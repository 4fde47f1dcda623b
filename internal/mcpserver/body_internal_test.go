package mcpserver

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/go-json-experiment/json/jsontext"
)

// ids are JSON-RPC IDs as clients send them, plain and odd.
var ids = []string{`1`, `0`, `-0`, `-7`, `123456789012345`, `1234567890123456`, `9007199254740993`, `-9007199254740993`,
	`1.5`, `1e2`, `-1E+2`, `0.0`, `"abc"`, `""`, `"a b"`, `"<>&"`, `"é"`, `"\u00e9"`, `"a\"b"`, `"a\\b"`, `"\u2028"`,
	`"\t"`, `null`, `true`, `false`, `{}`, `[]`, `{"a":1}`}

// normalizeID's shortcut (plainID) gives what decoding and marshalling
// give.
func TestNormalizeIDShortcut(t *testing.T) {
	for _, id := range ids {
		var v any
		want := ""
		if json.Unmarshal([]byte(id), &v) == nil {
			b, _ := json.Marshal(v)
			want = string(b)
		}
		if got := normalizeID([]byte(id)); got != want {
			t.Errorf("normalizeID(%s) = %q, want %q (plainID %v)", id, got, want, plainID([]byte(id)))
		}
	}
}

// fastID's shortcuts give what it gave before them: a string decoded and
// marshalled, an integer parsed and formatted.
func TestFastIDShortcut(t *testing.T) {
	for _, id := range ids {
		var want string
		var wantOK bool
		switch id[0] {
		case '"':
			var s string
			if json.Unmarshal([]byte(id), &s) == nil {
				b, _ := json.Marshal(s)
				want, wantOK = string(b), true
			}
		default:
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && n <= 1<<53 && n >= -(1<<53) {
				want, wantOK = strconv.FormatInt(n, 10), true
			}
		}
		got, ok := fastID(json.RawMessage(id))
		if ok != wantOK || string(got) != want {
			t.Errorf("fastID(%s) = %s, %v; want %s, %v", id, got, ok, want, wantOK)
		}
	}
}

// readLimited reads as io.ReadAll(io.LimitReader(r, n)), whatever the
// announced size says, for reads of any size.
func TestReadLimited(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	for _, n := range []int64{1, 10, 999, 1000, 1001, 5000} {
		for _, size := range []int64{-1, 0, 10, 999, 1000, 1001, 5000} {
			for _, slow := range []bool{false, true} {
				r := func() io.Reader {
					if slow {
						return iotest.OneByteReader(strings.NewReader(body))
					}
					return strings.NewReader(body)
				}
				want, wantErr := io.ReadAll(io.LimitReader(r(), n))
				got, err := readLimited(r(), n, size)
				if !bytes.Equal(got, want) || err != wantErr {
					t.Errorf("n %d size %d slow %v: %d bytes, %v; want %d bytes, %v", n, size, slow, len(got), err, len(want), wantErr)
				}
			}
		}
	}
	// An error ends the read with what was read before it.
	got, err := readLimited(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader(body))), 100, 1000)
	if string(got) != "0" || err != iotest.ErrTimeout {
		t.Errorf("after an error: %q, %v", got, err)
	}
}

// peek finds what it found when it decoded each member with
// json.Unmarshal, and hands out slices of the body.
func TestPeek(t *testing.T) {
	for _, tc := range []struct {
		body                       string
		single, hasMethod, other   bool
		method, version, id, param string
	}{
		{body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`, single: true, hasMethod: true,
			method: "tools/call", version: "2.0", id: "1", param: `{"name":"x"}`},
		{body: ` { "method" : "a\u0062" , "id" : "q" , "jsonrpc" : null } `, single: true, hasMethod: true, method: "ab", id: `"q"`},
		{body: `{"method":null}`, single: true, hasMethod: true},
		{body: `{"method":5,"jsonrpc":2}`, single: true},
		{body: `{"\u006dethod":"m"}`, single: true, hasMethod: true, method: "m"},
		{body: `{"x":1}`, single: true, other: true},
		{body: `{"method":"a","method":"b"}`, hasMethod: true, method: "a"}, // duplicate: not single
		{body: `{"params":{"a":1,"a":2}}`},                                  // a duplicate inside
		{body: `{"id":1} {}`, id: "1"},
		{body: `{"id":1`, id: "1"},
		{body: "{\"method\":\"\xff\"}"},
	} {
		m := &message{body: []byte(tc.body)}
		m.peek()
		if m.single != tc.single || m.hasMethod != tc.hasMethod || m.other != tc.other || m.method != tc.method ||
			m.version != tc.version || m.id != tc.id || string(m.params) != tc.param {
			t.Errorf("%s: got %+v", tc.body, m)
		}
	}
}

// The decoders as they were before the scanner (json.Unmarshal of each
// member, a map for _meta): the reference the fuzz targets hold peek and
// fastParams to.

func peekRef(body []byte) message {
	m := message{body: body}
	d := jsontext.NewDecoder(bytes.NewReader(body))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return m
	}
	for d.PeekKind() == '"' {
		tok, err := d.ReadToken()
		if err != nil {
			return m
		}
		name := tok.String()
		v, err := d.ReadValue()
		if err != nil {
			return m
		}
		switch name {
		case "id":
			m.rawID = bytes.Clone(v)
			m.id = normalizeIDRef(v)
		case "method":
			m.hasMethod = json.Unmarshal(v, &m.method) == nil
		case "params":
			m.params = bytes.Clone(v)
		case "jsonrpc":
			_ = json.Unmarshal(v, &m.version)
		default:
			m.other = true
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return m
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return m
	}
	m.single = true
	if m.method == "notifications/cancelled" && m.params != nil {
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.params, &p) == nil && len(p.RequestID) > 0 {
			m.cancelID = normalizeIDRef(p.RequestID)
		}
	}
	return m
}

func normalizeIDRef(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fastParamsRef(params json.RawMessage) (name string, args json.RawMessage, meta map[string]json.RawMessage, ok bool) {
	d := jsontext.NewDecoder(bytes.NewReader(params))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", nil, nil, false
	}
	hasName := false
	for d.PeekKind() == '"' {
		tok, err := d.ReadToken()
		if err != nil {
			return "", nil, nil, false
		}
		key := tok.String()
		v, err := d.ReadValue()
		if err != nil {
			return "", nil, nil, false
		}
		switch {
		case key == "name" && v.Kind() == '"':
			hasName = json.Unmarshal(v, &name) == nil
		case key == "arguments" && v.Kind() == '{':
			args = bytes.Clone(v)
		case key == "_meta" && v.Kind() == '{':
			if json.Unmarshal(v, &meta) != nil {
				return "", nil, nil, false
			}
		default:
			return "", nil, nil, false
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return "", nil, nil, false
	}
	return name, args, meta, hasName && name != ""
}

var scannerSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"q"},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"b","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`,
	`{"jsonrpc":"2.0","id":"x<y","method":"notifications/cancelled","params":{"requestId":1.50,"reason":"r"}}`,
	`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"RequestID":"a"}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u0062","_meta":{"io.modelcontextprotocol/protocolVersion":"x","k":[1,{"a":2}]},"arguments":{}}}`,
	`{"params":{"name":"n","\u005fmeta":{"io.modelcontextprotocol\/protocolVersion":"v"}}}`,
	`{"params":{"name":5}}`, `{"params":{"name":"x","name":"y"}}`, `{"params":{"_meta":{"a":1,"a":1}}}`,
	`{"params":{"arguments":null,"name":"x"}}`, `{"params":[]}`, `[]`, `{`, ``, `{"a":1}x`, "{\"id\":\"\xff\"}",
	`{"id":-0,"method":null,"jsonrpc":null}`, `{"id":1e400}`, `{"id":{"a":[]}}`,
}

// FuzzPeek holds peek to the reference decoding, and its params to
// fastParams' reference when they are a tools/call's.
func FuzzPeek(f *testing.F) {
	for _, s := range scannerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		want := peekRef([]byte(body))
		got := message{body: []byte(body)}
		got.peek()
		if got.single != want.single || got.hasMethod != want.hasMethod || got.method != want.method || got.other != want.other ||
			got.version != want.version || got.id != want.id || got.cancelID != want.cancelID ||
			!bytes.Equal(got.rawID, want.rawID) || !bytes.Equal(got.params, want.params) {
			t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
		}
		params := want.params
		if params == nil {
			params = []byte(body)
		}
		name, args, meta, ok := fastParams(params)
		wname, wargs, wmeta, wok := fastParamsRef(params)
		if ok != wok {
			t.Fatalf("fastParams(%s) ok %v, want %v", params, ok, wok)
		}
		if !ok {
			return
		}
		_, hasVersion := wmeta[metaProtocolVersion]
		_, hasInfo := wmeta[metaClientInfo]
		_, hasCaps := wmeta[metaClientCapabilities]
		if name != wname || !bytes.Equal(args, wargs) ||
			hasVersion != (meta.version != nil) || !bytes.Equal(meta.version, wmeta[metaProtocolVersion]) ||
			hasInfo != (meta.clientInfo != nil) || !bytes.Equal(meta.clientInfo, wmeta[metaClientInfo]) ||
			hasCaps != (meta.capabilities != nil) || !bytes.Equal(meta.capabilities, wmeta[metaClientCapabilities]) {
			t.Fatalf("fastParams(%s) = %q %s %+v, want %q %s %v", params, name, args, meta, wname, wargs, wmeta)
		}
	})
}
