package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
)

// The fast path. The SDK's stateless handler spends more CPU on one
// tools/call than the governed pipeline does: it decodes the message
// several times, connects a JSON-RPC session per request and re-reads the
// tool's schema. The hot request — one tools/call of a tool the tenant
// has, on POST — is answered here instead, with the same governed call
// (governedCall) and the answer the SDK would give: an SSE stream of one
// "message" event carrying the JSON-RPC response, with the SDK's headers.
//
// Anything the fast path is not sure of goes to the SDK unchanged:
// initialize, tools/list, notifications, batches, GET, DELETE, unknown
// tools, tools whose schema binds arguments to headers (x-mcp-header),
// unsupported protocol versions, header or _meta mismatches, odd IDs, extra
// members. The decision is taken before the governor is called, so a call
// runs at most once. The differential test (fast_test.go) holds both paths
// to the same answers.

// protocolNew is the first protocol version without the initialize
// handshake (SEP-2575): per-request _meta, Mcp-Method and Mcp-Name headers.
const protocolNew = "2026-07-28"

// maxFastDepth bounds the nesting of a body the fast path takes; deeper
// ones go to the SDK, which refuses some of them (beyond 1,000 levels).
const maxFastDepth = 64

// Keys of the per-request _meta of protocolNew.
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
)

// fastCall is a tools/call the fast path answers.
type fastCall struct {
	p       vargate.Principal
	id      json.RawMessage // the ID as the SDK writes it back
	name    string
	args    json.RawMessage
	newEra  bool // protocol protocolNew: resultType and serverInfo in the result
	version string
}

// fastPath answers the calls fastCallOf accepts and passes the rest on.
func (s *Server) fastPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.noFastPath.Load() {
			next.ServeHTTP(w, r)
			return
		}
		c, ok := s.fastCallOf(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		s.serveFast(w, r, c)
	})
}

// fastCallOf returns the call of r if the fast path can answer it exactly
// as the SDK would.
func (s *Server) fastCallOf(r *http.Request) (fastCall, bool) {
	m := messageOf(r.Context())
	if r.Method != http.MethodPost || m == nil || !m.single || m.other || m.version != "2.0" ||
		!m.hasMethod || m.method != "tools/call" || !fastHeaders(r.Header) {
		return fastCall{}, false
	}
	c := fastCall{version: r.Header.Get("Mcp-Protocol-Version")}
	if c.version != "" && !slices.Contains(mcp.SupportedProtocolVersions(), c.version) {
		return fastCall{}, false
	}
	c.newEra = c.version >= protocolNew
	var ok bool
	if c.id, ok = fastID(m.rawID); !ok || depth(m.body) > maxFastDepth {
		return fastCall{}, false
	}
	var meta map[string]json.RawMessage
	if c.name, c.args, meta, ok = fastParams(m.params); !ok {
		return fastCall{}, false
	}
	if c.newEra {
		if !fastNewEra(r.Header, c.version, c.name, meta) {
			return fastCall{}, false
		}
	} else if _, ok := meta[metaProtocolVersion]; ok {
		return fastCall{}, false // the SDK checks it against the header
	}
	if c.p, ok = vargate.FromContext(r.Context()); !ok {
		return fastCall{}, false
	}
	ts := s.tenant(r)
	if ts == nil || !ts.fast[c.name] {
		return fastCall{}, false // unknown tools are recorded and refused by the SDK path
	}
	return c, true
}

// fastHeaders reports whether the request's headers are those of a plain
// POST the SDK accepts: a JSON body, an Accept that takes both answers, no
// session, no resumption and no parameter headers.
func fastHeaders(h http.Header) bool {
	if ct, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || ct != "application/json" {
		return false
	}
	if jsonOK, streamOK := accepts(h.Values("Accept")); !jsonOK || !streamOK {
		return false
	}
	for k := range h {
		if k == "Last-Event-Id" || k == "Mcp-Session-Id" || strings.HasPrefix(k, "Mcp-Param-") {
			return false
		}
	}
	return true
}

// accepts reads Accept as the SDK does (streamableAccepts).
func accepts(values []string) (jsonOK, streamOK bool) {
	for _, value := range values {
		for raw := range strings.SplitSeq(value, ",") {
			base, _, _ := strings.Cut(strings.TrimSpace(raw), ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	return jsonOK, streamOK
}

// fastID returns the JSON-RPC ID as the SDK writes it back: a string, or
// an integer small enough to survive its float64 decoding.
func fastID(raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		b, err := json.Marshal(s)
		return b, err == nil
	default:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n > 1<<53 || n < -(1<<53) {
			return nil, false
		}
		return strconv.AppendInt(nil, n, 10), true
	}
}

// fastParams reads the params of tools/call: a name, arguments (an
// object, or absent) and _meta (an object, or absent), nothing else.
func fastParams(params json.RawMessage) (name string, args json.RawMessage, meta map[string]json.RawMessage, ok bool) {
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

// fastNewEra checks what the SDK checks of a protocolNew request: the
// Mcp-Method and Mcp-Name headers match the body, and _meta carries the
// header's protocol version, the client's capabilities and, if present,
// a valid clientInfo.
func fastNewEra(h http.Header, version, name string, meta map[string]json.RawMessage) bool {
	if vs := h.Values("Mcp-Method"); len(vs) != 1 || vs[0] != "tools/call" {
		return false
	}
	if vs := h.Values("Mcp-Name"); len(vs) != 1 || vs[0] != name {
		return false
	}
	var v string
	if json.Unmarshal(meta[metaProtocolVersion], &v) != nil || v != version {
		return false
	}
	caps := meta[metaClientCapabilities]
	if len(caps) == 0 || caps[0] != '{' || json.Unmarshal(caps, &clientCapabilities{}) != nil {
		return false
	}
	if info, ok := meta[metaClientInfo]; ok {
		if len(info) == 0 || info[0] != '{' || json.Unmarshal(info, &mcp.Implementation{}) != nil {
			return false
		}
	}
	return true
}

// clientCapabilities is the shape the SDK decodes the _meta capabilities
// into (its clientCapabilitiesV2).
type clientCapabilities struct {
	mcp.ClientCapabilities
	Roots *struct {
		ListChanged bool `json:"listChanged,omitempty"`
	} `json:"roots,omitempty"`
}

// depth returns the deepest nesting of objects and arrays in a JSON text.
func depth(b []byte) int {
	d, most, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}

// serveFast runs the call and writes its answer as the SDK's stateless
// handler does.
func (s *Server) serveFast(w http.ResponseWriter, r *http.Request, c fastCall) {
	s.fastCalls.Add(1)
	res, err := s.governedCall(r.Context(), c.p, c.name, c.args)
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("Content-Type", "text/event-stream")
	h.Set("Connection", "keep-alive")
	if r.Context().Err() != nil {
		// The client cancelled the request or went away: as the SDK, no
		// answer (the spec asks for none to a cancelled request).
		return
	}
	if err != nil {
		var jerr *jsonrpc.Error
		if !errors.As(err, &jerr) {
			jerr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		}
		data, _ := json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   *jsonrpc.Error  `json:"error"`
		}{"2.0", c.id, jerr})
		if status := errorStatus(c.newEra, jerr.Code); status != 0 {
			// SEP-2575: some errors are answered with an HTTP status
			// and a plain JSON body.
			h.Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(data)
			return
		}
		writeMessageEvent(w, data)
		return
	}
	if c.newEra {
		res.Meta[mcp.MetaKeyServerInfo] = implementation()
	}
	result, err := json.Marshal(res)
	if err != nil {
		// A result of strings and raw JSON the governor checked; the
		// SDK would fail the same way, as an internal error.
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "cannot encode a tool result",
			slog.String(logKeyTool, c.name), slog.String(logKeyError, err.Error()))
		result = []byte(`{"content":[],"isError":true}`)
	}
	if c.newEra {
		// The SDK's result type is unexported; its member goes first.
		result = append([]byte(`{"resultType":"complete",`), result[1:]...)
	}
	var b bytes.Buffer
	b.Grow(len(result) + len(c.id) + 40)
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(c.id)
	b.WriteString(`,"result":`)
	b.Write(result)
	b.WriteByte('}')
	writeMessageEvent(w, b.Bytes())
}

// errorStatus is the HTTP status the SDK gives a JSON-RPC error of the
// protocolNew era (its extractErrorStatus), or 0 to answer it on the
// stream.
func errorStatus(newEra bool, code int64) int {
	if !newEra {
		return 0
	}
	switch code {
	case jsonrpc.CodeMethodNotFound:
		return http.StatusNotFound
	case jsonrpc.CodeInvalidParams, mcp.CodeUnsupportedProtocolVersion, mcp.CodeMissingRequiredClientCapabilities:
		return http.StatusBadRequest
	}
	return 0
}

// writeMessageEvent writes one SSE "message" event and flushes it.
func writeMessageEvent(w http.ResponseWriter, data []byte) {
	var b bytes.Buffer
	b.Grow(len(data) + 24)
	b.WriteString("event: message\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	_, _ = w.Write(b.Bytes())
	_ = http.NewResponseController(w).Flush()
}
