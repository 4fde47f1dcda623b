package sim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/pagination"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/respjson"
)

// This file holds the conformance checker: every answer of the simulator
// is decoded into the official SDK's response type and walked field by
// field with the SDK's own JSON metadata (respjson.Field), which tells a
// field that is missing from one that is null, of the wrong type, or not
// declared at all (ExtraFields). A field tagged api:"required" must be
// present (null is allowed: the SDK marks nullable fields required too);
// a union is resolved with its AsAny method and must name a known variant;
// a constant field (type "agent", "session", …) must hold its value.

var (
	fieldType    = reflect.TypeFor[respjson.Field]()
	timeType     = reflect.TypeFor[time.Time]()
	constantPath = "github.com/anthropics/anthropic-sdk-go/v2/shared/constant"
)

// conformance decodes body into a new T and returns every problem found,
// each prefixed with its JSON path.
func conformance[T any](body []byte) []string {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{fmt.Sprintf("$: decode into %T: %v", v, err)}
	}
	var probs []string
	walk("$", reflect.ValueOf(v), &probs)
	return probs
}

// conformanceOf is conformance for a type known only at run time.
func conformanceOf(t reflect.Type, body []byte) []string {
	p := reflect.New(t)
	if err := json.Unmarshal(body, p.Interface()); err != nil {
		return []string{fmt.Sprintf("$: decode into %s: %v", t, err)}
	}
	var probs []string
	walk("$", p.Elem(), &probs)
	return probs
}

func walk(path string, v reflect.Value, probs *[]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(path, v.Elem(), probs)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i), probs)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walk(fmt.Sprintf("%s.%v", path, iter.Key()), iter.Value(), probs)
		}
	case reflect.Struct:
		walkStruct(path, v, probs)
	}
}

func walkStruct(path string, v reflect.Value, probs *[]string) {
	t := v.Type()
	if t == timeType {
		return
	}
	meta := v.FieldByName("JSON")
	if !meta.IsValid() || meta.Kind() != reflect.Struct {
		return
	}
	// A union: the variant it names must be known; check the variant.
	if m := v.MethodByName("AsAny"); m.IsValid() && m.Type().NumIn() == 0 {
		out := m.Call(nil)[0]
		if out.IsNil() {
			disc := ""
			if f := v.FieldByName("Type"); f.IsValid() && f.Kind() == reflect.String {
				disc = f.String()
			}
			*probs = append(*probs, fmt.Sprintf("%s: unknown variant %q of %s", path, disc, t.Name()))
			return
		}
		walk(path, out.Elem(), probs)
		return
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Name == "JSON" {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || (name == "" && strings.Contains(opts, "inline")) {
			continue
		}
		mf := meta.FieldByName(sf.Name)
		if !mf.IsValid() || mf.Type() != fieldType {
			continue
		}
		f := mf.Interface().(respjson.Field)
		p := path + "." + name
		raw := f.Raw()
		switch {
		case raw == respjson.Omitted:
			if sf.Tag.Get("api") == "required" {
				*probs = append(*probs, p+": required field missing")
			}
			continue
		case raw == respjson.Null:
			continue
		case !f.Valid():
			*probs = append(*probs, fmt.Sprintf("%s: %s is not a valid %s", p, raw, sf.Type))
			continue
		}
		if sf.Type.PkgPath() == constantPath {
			if d := v.Field(i).MethodByName("Default"); d.IsValid() {
				if want := d.Call(nil)[0].String(); v.Field(i).String() != want {
					*probs = append(*probs, fmt.Sprintf("%s: %s, want %q", p, raw, want))
				}
			}
		}
		walk(p, v.Field(i), probs)
	}
	if extra := meta.FieldByName("ExtraFields"); extra.IsValid() {
		keys := make([]string, 0, extra.Len())
		for _, k := range extra.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			*probs = append(*probs, fmt.Sprintf("%s.%s: field not in %s", path, k, t.Name()))
		}
	}
}

// responseTypes maps every route of the simulator to the SDK type of its
// answer; the stream routes map to the type of one event.
var responseTypes = map[string]reflect.Type{
	"POST /v1/agents":                                                reflect.TypeFor[anthropic.BetaManagedAgentsAgent](),
	"GET /v1/agents":                                                 reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsAgent]](),
	"GET /v1/agents/{agent_id}":                                      reflect.TypeFor[anthropic.BetaManagedAgentsAgent](),
	"POST /v1/agents/{agent_id}":                                     reflect.TypeFor[anthropic.BetaManagedAgentsAgent](),
	"POST /v1/agents/{agent_id}/archive":                             reflect.TypeFor[anthropic.BetaManagedAgentsAgent](),
	"GET /v1/agents/{agent_id}/versions":                             reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsAgent]](),
	"POST /v1/environments":                                          reflect.TypeFor[anthropic.BetaEnvironment](),
	"GET /v1/environments":                                           reflect.TypeFor[pagination.PageCursor[anthropic.BetaEnvironment]](),
	"GET /v1/environments/{environment_id}":                          reflect.TypeFor[anthropic.BetaEnvironment](),
	"POST /v1/environments/{environment_id}":                         reflect.TypeFor[anthropic.BetaEnvironment](),
	"DELETE /v1/environments/{environment_id}":                       reflect.TypeFor[anthropic.BetaEnvironmentDeleteResponse](),
	"POST /v1/environments/{environment_id}/archive":                 reflect.TypeFor[anthropic.BetaEnvironment](),
	"POST /v1/vaults":                                                reflect.TypeFor[anthropic.BetaManagedAgentsVault](),
	"GET /v1/vaults":                                                 reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsVault]](),
	"GET /v1/vaults/{vault_id}":                                      reflect.TypeFor[anthropic.BetaManagedAgentsVault](),
	"POST /v1/vaults/{vault_id}":                                     reflect.TypeFor[anthropic.BetaManagedAgentsVault](),
	"DELETE /v1/vaults/{vault_id}":                                   reflect.TypeFor[anthropic.BetaManagedAgentsDeletedVault](),
	"POST /v1/vaults/{vault_id}/archive":                             reflect.TypeFor[anthropic.BetaManagedAgentsVault](),
	"POST /v1/vaults/{vault_id}/credentials":                         reflect.TypeFor[anthropic.BetaManagedAgentsCredential](),
	"GET /v1/vaults/{vault_id}/credentials":                          reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsCredential]](),
	"GET /v1/vaults/{vault_id}/credentials/{credential_id}":          reflect.TypeFor[anthropic.BetaManagedAgentsCredential](),
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}":         reflect.TypeFor[anthropic.BetaManagedAgentsCredential](),
	"DELETE /v1/vaults/{vault_id}/credentials/{credential_id}":       reflect.TypeFor[anthropic.BetaManagedAgentsDeletedCredential](),
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive": reflect.TypeFor[anthropic.BetaManagedAgentsCredential](),
	"POST /v1/sessions":                                              reflect.TypeFor[anthropic.BetaManagedAgentsSession](),
	"GET /v1/sessions":                                               reflect.TypeFor[pagination.BidirectionalPageCursor[anthropic.BetaManagedAgentsSession]](),
	"GET /v1/sessions/{session_id}":                                  reflect.TypeFor[anthropic.BetaManagedAgentsSession](),
	"POST /v1/sessions/{session_id}":                                 reflect.TypeFor[anthropic.BetaManagedAgentsSession](),
	"DELETE /v1/sessions/{session_id}":                               reflect.TypeFor[anthropic.BetaManagedAgentsDeletedSession](),
	"POST /v1/sessions/{session_id}/archive":                         reflect.TypeFor[anthropic.BetaManagedAgentsSession](),
	"POST /v1/sessions/{session_id}/events":                          reflect.TypeFor[anthropic.BetaManagedAgentsSendSessionEvents](),
	"GET /v1/sessions/{session_id}/events":                           reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsSessionEventUnion]](),
	"GET /v1/sessions/{session_id}/events/stream":                    reflect.TypeFor[anthropic.BetaManagedAgentsStreamSessionEventsUnion](),
	"GET /v1/sessions/{session_id}/threads":                          reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsSessionThread]](),
	"GET /v1/sessions/{session_id}/threads/{thread_id}":              reflect.TypeFor[anthropic.BetaManagedAgentsSessionThread](),
	"POST /v1/sessions/{session_id}/threads/{thread_id}/archive":     reflect.TypeFor[anthropic.BetaManagedAgentsSessionThread](),
	"GET /v1/sessions/{session_id}/threads/{thread_id}/events":       reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsSessionEventUnion]](),
	"GET /v1/sessions/{session_id}/threads/{thread_id}/stream":       reflect.TypeFor[anthropic.BetaManagedAgentsStreamSessionThreadEventsUnion](),
	"POST /v1/sessions/{session_id}/resources":                       reflect.TypeFor[anthropic.BetaManagedAgentsFileResource](),
	"GET /v1/sessions/{session_id}/resources":                        reflect.TypeFor[pagination.PageCursor[anthropic.BetaManagedAgentsSessionResourceUnion]](),
	"GET /v1/sessions/{session_id}/resources/{resource_id}":          reflect.TypeFor[anthropic.BetaSessionResourceGetResponseUnion](),
	"POST /v1/sessions/{session_id}/resources/{resource_id}":         reflect.TypeFor[anthropic.BetaSessionResourceUpdateResponseUnion](),
	"DELETE /v1/sessions/{session_id}/resources/{resource_id}":       reflect.TypeFor[anthropic.BetaManagedAgentsDeleteSessionResource](),
}

// answer is one response of the simulator: a JSON body, or one event of
// a stream.
type answer struct {
	route  string
	status int
	body   []byte
}

// recorder wraps the simulator and keeps every answer for the checker,
// including the frames of streams still open.
type recorder struct {
	next   http.Handler
	routes *http.ServeMux

	mu      sync.Mutex
	answers []answer
	open    map[*teeWriter]string // open streams and their routes
}

func newRecorder(next http.Handler) *recorder {
	rec := &recorder{next: next, routes: http.NewServeMux(), open: map[*teeWriter]string{}}
	for pattern := range responseTypes {
		rec.routes.Handle(pattern, http.NotFoundHandler())
	}
	return rec
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, route := rec.routes.Handler(r)
	tw := &teeWriter{ResponseWriter: w}
	rec.mu.Lock()
	rec.open[tw] = route
	rec.mu.Unlock()
	rec.next.ServeHTTP(tw, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	delete(rec.open, tw)
	rec.answers = append(rec.answers, tw.answers(route)...)
}

func (rec *recorder) all() []answer {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := slices.Clone(rec.answers)
	for tw, route := range rec.open {
		out = append(out, tw.answers(route)...)
	}
	return out
}

// teeWriter keeps a copy of what is written; Unwrap lets the simulator
// flush the stream through http.ResponseController.
type teeWriter struct {
	http.ResponseWriter
	mu     sync.Mutex
	status int
	buf    bytes.Buffer
}

func (tw *teeWriter) WriteHeader(code int) {
	tw.mu.Lock()
	tw.status = code
	tw.mu.Unlock()
	tw.ResponseWriter.WriteHeader(code)
}

func (tw *teeWriter) Write(b []byte) (int, error) {
	tw.mu.Lock()
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	tw.buf.Write(b)
	tw.mu.Unlock()
	return tw.ResponseWriter.Write(b)
}

func (tw *teeWriter) Unwrap() http.ResponseWriter { return tw.ResponseWriter }

// answers returns what was written so far: the body, or one answer per
// complete frame of an event stream.
func (tw *teeWriter) answers(route string) []answer {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	body := slices.Clone(tw.buf.Bytes())
	if !strings.HasPrefix(tw.Header().Get("Content-Type"), "text/event-stream") {
		return []answer{{route, tw.status, body}}
	}
	var out []answer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, answer{route, tw.status, []byte(data)})
		}
	}
	return out
}

// checkAnswers runs the checker over every recorded answer: a success
// must conform to its route's SDK type, an error to the API's error body.
// It returns the routes and the event types seen.
func checkAnswers(t *testing.T, answers []answer) (routes, eventTypes map[string]bool) {
	t.Helper()
	routes, eventTypes = map[string]bool{}, map[string]bool{}
	failures := 0
	for _, a := range answers {
		var probs []string
		switch typ, ok := responseTypes[a.route]; {
		case a.status >= 400:
			probs = conformance[anthropic.BetaErrorResponse](a.body)
		case !ok:
			probs = []string{"no SDK type for route " + a.route}
		default:
			var head struct {
				Type string `json:"type"`
				Data []struct {
					Type string `json:"type"`
				} `json:"data"`
			}
			_ = json.Unmarshal(a.body, &head)
			if head.Type == "ping" {
				continue
			}
			routes[a.route] = true
			if strings.HasSuffix(a.route, "stream") {
				eventTypes[head.Type] = true
			}
			if strings.HasSuffix(a.route, "/events") || strings.HasSuffix(a.route, "events}") {
				for _, d := range head.Data {
					eventTypes[d.Type] = true
				}
			}
			probs = conformanceOf(typ, a.body)
		}
		if len(probs) > 0 {
			failures++
			if failures <= 60 {
				t.Errorf("%s (%d):\n  %s\n  body: %.600s", a.route, a.status, strings.Join(probs, "\n  "), a.body)
			}
		}
	}
	if failures > 60 {
		t.Errorf("… and %d more answers that do not conform", failures-60)
	}
	return routes, eventTypes
}
