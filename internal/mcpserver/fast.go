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
	"sync"

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
	if c.version != "" && !slices.Contains(supportedVersions, c.version) {
		return fastCall{}, false
	}
	c.newEra = c.version >= protocolNew
	var ok bool
	if c.id, ok = fastID(m.rawID); !ok || depth(m.body) > maxFastDepth {
		return fastCall{}, false
	}
	var meta callMeta
	if c.name, c.args, meta, ok = fastParams(m.params); !ok {
		return fastCall{}, false
	}
	if c.newEra {
		if !fastNewEra(r.Header, c.version, c.name, meta) {
			return fastCall{}, false
		}
	} else if meta.version != nil {
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

// supportedVersions is mcp.SupportedProtocolVersions(), which copies
// the list on each call.
var supportedVersions = mcp.SupportedProtocolVersions()

// fastHeaders reports whether the request's headers are those of a plain
// POST the SDK accepts: a JSON body, an Accept that takes both answers, no
// session, no resumption and no parameter headers.
func fastHeaders(h http.Header) bool {
	if ct := h.Get("Content-Type"); ct != "application/json" { // as sent by most clients: spares parsing it
		if ct, _, err := mime.ParseMediaType(ct); err != nil || ct != "application/json" {
			return false
		}
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
		if plainID(raw) {
			return raw, true // written back as it came
		}
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
		var buf [24]byte
		if b := strconv.AppendInt(buf[:0], n, 10); bytes.Equal(b, raw) {
			return raw, true // written back as it came
		}
		return strconv.AppendInt(nil, n, 10), true // "-0"
	}
}

// callMeta holds the members of a tools/call's _meta the fast path reads,
// as sent (nil when absent).
type callMeta struct {
	version, clientInfo, capabilities json.RawMessage
}

// fastParams reads the params of tools/call: a name, arguments (an
// object, or absent) and _meta (an object, or absent), nothing else. The
// arguments and _meta members are slices of params.
func fastParams(params json.RawMessage) (name string, args json.RawMessage, meta callMeta, ok bool) {
	sc := newScanner(params)
	defer sc.release()
	d := &sc.d
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", nil, callMeta{}, false
	}
	hasName := false
	for d.PeekKind() == '"' {
		key, err := sc.name()
		if err != nil {
			return "", nil, callMeta{}, false
		}
		// key is void after the next read (PeekKind is one).
		isName, isArgs, isMeta := string(key) == "name", string(key) == "arguments", string(key) == "_meta"
		next := d.PeekKind()
		switch {
		case isName && next == '"':
			tok, err := d.ReadToken()
			if err != nil {
				return "", nil, callMeta{}, false
			}
			name, hasName = tok.String(), true
		case isArgs && next == '{':
			if args, err = sc.value(); err != nil {
				return "", nil, callMeta{}, false
			}
		case isMeta && next == '{':
			if meta, ok = readMeta(sc); !ok {
				return "", nil, callMeta{}, false
			}
		default:
			return "", nil, callMeta{}, false
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return "", nil, callMeta{}, false
	}
	return name, args, meta, hasName && name != ""
}

// readMeta reads a _meta object and keeps the members callMeta holds.
func readMeta(sc *scanner) (callMeta, bool) {
	var meta callMeta
	d := &sc.d
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return callMeta{}, false
	}
	for d.PeekKind() == '"' {
		key, err := sc.name()
		if err != nil {
			return callMeta{}, false
		}
		var v *json.RawMessage
		switch {
		case string(key) == metaProtocolVersion:
			v = &meta.version
		case string(key) == metaClientInfo:
			v = &meta.clientInfo
		case string(key) == metaClientCapabilities:
			v = &meta.capabilities
		default:
			if _, err := d.ReadValue(); err != nil {
				return callMeta{}, false
			}
			continue
		}
		if *v, err = sc.value(); err != nil {
			return callMeta{}, false
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return callMeta{}, false
	}
	return meta, true
}

// fastNewEra checks what the SDK checks of a protocolNew request: the
// Mcp-Method and Mcp-Name headers match the body, and _meta carries the
// header's protocol version, the client's capabilities and, if present,
// a valid clientInfo.
func fastNewEra(h http.Header, version, name string, meta callMeta) bool {
	if vs := h.Values("Mcp-Method"); len(vs) != 1 || vs[0] != "tools/call" {
		return false
	}
	if vs := h.Values("Mcp-Name"); len(vs) != 1 || vs[0] != name {
		return false
	}
	if !jsonStringIs(meta.version, version) {
		return false
	}
	caps := meta.capabilities
	if len(caps) == 0 || caps[0] != '{' {
		return false
	}
	if string(caps) != "{}" && json.Unmarshal(caps, &clientCapabilities{}) != nil {
		return false
	}
	if info := meta.clientInfo; info != nil {
		if len(info) == 0 || info[0] != '{' {
			return false
		}
		if !plainImplementation(info) && json.Unmarshal(info, &mcp.Implementation{}) != nil {
			return false
		}
	}
	return true
}

// jsonStringIs reports whether raw (a JSON value) is the string s.
func jsonStringIs(raw json.RawMessage, s string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	if !bytes.Contains(raw, []byte{'\\'}) {
		return string(raw[1:len(raw)-1]) == s
	}
	u, err := jsontext.AppendUnquote(nil, raw)
	return err == nil && string(u) == s
}

// plainImplementation reports whether raw, a JSON object, is a clientInfo
// that surely decodes into mcp.Implementation: its members are among the
// string fields, named exactly, with string values. Anything else is left
// to json.Unmarshal (which matches names case-insensitively).
func plainImplementation(raw json.RawMessage) bool {
	sc := newScanner(raw)
	defer sc.release()
	d := &sc.d
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return false
	}
	for d.PeekKind() == '"' {
		key, err := sc.name()
		if err != nil {
			return false
		}
		switch string(key) {
		case "name", "title", "description", "version", "websiteUrl":
		default:
			return false
		}
		if d.PeekKind() != '"' {
			return false
		}
		if _, err := d.ReadValue(); err != nil {
			return false
		}
	}
	tok, err := d.ReadToken()
	return err == nil && tok.Kind() == '}'
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
	h["Cache-Control"] = sseCacheControl
	h["Content-Type"] = sseContentType
	h["Connection"] = sseConnection
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
		b := newEvent()
		b.Write(data)
		b.end(w)
		return
	}
	if c.newEra {
		res.Meta[mcp.MetaKeyServerInfo] = serverInfo
	}
	b := newEvent()
	b.WriteString(`{"jsonrpc":"2.0","id":`)
	b.Write(c.id)
	b.WriteString(`,"result":`)
	if c.newEra {
		// The SDK's result type is unexported; its member goes first.
		b.WriteString(`{"resultType":"complete",`)
	} else {
		b.WriteByte('{')
	}
	if mark := b.Len(); b.result(res) {
		b.WriteByte('}')
	} else {
		b.Truncate(mark)
		result, err := json.Marshal(res)
		if err != nil {
			// A result of strings and raw JSON the governor checked; the
			// SDK would fail the same way, as an internal error.
			s.Logger.LogAttrs(r.Context(), slog.LevelError, "cannot encode a tool result",
				slog.String(logKeyTool, c.name), slog.String(logKeyError, err.Error()))
			result = []byte(`{"content":[],"isError":true}`)
		}
		b.Write(result[1:]) // its closing brace too
	}
	b.WriteByte('}') // the message's
	b.end(w)
}

// The headers of an SSE answer, as the SDK sets them. The slices are
// shared by every answer (net/http only reads them; a handler that adds a
// value appends to a full slice, which copies it).
var (
	sseCacheControl = []string{"no-cache, no-transform"}
	sseContentType  = []string{"text/event-stream"}
	sseConnection   = []string{"keep-alive"}
)

// serverInfo is implementation(), in each result's _meta of protocolNew
// (only read: marshalled), and serverInfoJSON its JSON.
var (
	serverInfo        = implementation()
	serverInfoJSON, _ = json.Marshal(serverInfo)
)

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

// event is an SSE "message" event being written: newEvent starts it and
// the caller writes its data.
type event struct {
	bytes.Buffer
	enc  *json.Encoder // writes to the buffer, as json.Marshal does
	keys []string
}

var events = sync.Pool{New: func() any {
	b := new(event)
	b.enc = json.NewEncoder(&b.Buffer)
	return b
}}

// result writes the members of a tool result made by toolResult, as
// json.Marshal writes them (the SDK's CallToolResult.MarshalJSON, byte
// for byte: the same escaping, sorted _meta), without the braces.
// It reports false, having written part of it, for a result of another
// shape or that does not encode; json.Marshal then writes it (or fails).
func (b *event) result(res *mcp.CallToolResult) bool {
	if res.InputRequests != nil || res.RequestState != "" || res.NeedsInput() || len(res.Content) != 1 {
		return false
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok || text.Meta != nil || text.Annotations != nil {
		return false
	}
	var structured json.RawMessage
	if res.StructuredContent != nil {
		if structured, ok = res.StructuredContent.(json.RawMessage); !ok || structured == nil {
			return false
		}
	}
	if len(res.Meta) > 0 {
		b.keys = b.keys[:0]
		for k := range res.Meta {
			b.keys = append(b.keys, k)
		}
		slices.Sort(b.keys)
		b.WriteString(`"_meta":{`)
		for i, k := range b.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if !b.str(k) {
				return false
			}
			b.WriteByte(':')
			switch v := res.Meta[k].(type) {
			case string:
				if !b.str(v) {
					return false
				}
			case *mcp.Implementation:
				if v != serverInfo {
					return false
				}
				b.Write(serverInfoJSON)
			default:
				return false
			}
		}
		b.WriteString(`},`)
	}
	b.WriteString(`"content":[{"type":"text","text":`)
	if !b.str(text.Text) {
		return false
	}
	b.WriteString(`}]`)
	if structured != nil {
		b.WriteString(`,"structuredContent":`)
		if !b.encode(structured) {
			return false
		}
	}
	if res.IsError {
		b.WriteString(`,"isError":true`)
	}
	return true
}

// str writes s as json.Marshal does: as it is between quotes when it has
// nothing encoding/json escapes (printable ASCII but for ", \, <, > and
// &), else through the Encoder.
func (b *event) str(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b.encode(s)
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
	return true
}

// encode writes v as json.Marshal does (a raw message compacted).
func (b *event) encode(v any) bool {
	if b.enc.Encode(v) != nil {
		return false
	}
	b.Truncate(b.Len() - 1) // the Encoder's newline
	return true
}

// maxPooledEvent bounds the buffers kept for reuse.
const maxPooledEvent = 64 << 10

func newEvent() *event {
	b := events.Get().(*event)
	b.Reset()
	b.WriteString("event: message\ndata: ")
	return b
}

// end finishes the event and writes it in one Write, without a flush:
// the handler returns right after, so net/http sends the answer as one
// response (with a Content-Length when it is small) instead of the
// headers and a chunk, then the last chunk, as a flush per event does.
// A client sees the same stream of one event.
func (b *event) end(w http.ResponseWriter) {
	b.WriteString("\n\n")
	_, _ = w.Write(b.Bytes())
	if b.Cap() <= maxPooledEvent {
		events.Put(b)
	}
}
