package sim

//go:generate go run ./internal/sdkenums

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"
)

// Request bodies are checked against the official Go SDK's parameter types
// before the simulator reads them, as the real API checks them against its
// schema: the SDK's types are generated from that schema, so a request the
// SDK cannot express is one the API refuses. The rules come from the types
// by reflection:
//
//   - an object accepts only the JSON names of its struct's fields (a
//     struct with api:"extrafields" accepts any), and needs every field
//     tagged api:"required"; null clears an optional field;
//   - a union (param.APIUnion) accepts a value that one of its variants
//     accepts; object variants are chosen by their constant "type";
//   - a constant (shared/constant) accepts only its own value, a named
//     string type only its declared values (enums_gen.go, generated from
//     the SDK's source), numbers, booleans, strings, arrays and maps their
//     JSON kind.
//
// The error names the path of the first offending field, like the API's
// messages do: "tools[0].bogus: Extra inputs are not permitted".

var (
	apiUnionType  = reflect.TypeFor[param.APIUnion]()
	apiObjectType = reflect.TypeFor[param.APIObject]()
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	constantPkg   = "github.com/anthropics/anthropic-sdk-go/v2/shared/constant"
)

// checkParams validates body against the SDK parameter type T.
func checkParams[T any](body []byte) error {
	return checkParamsOf(reflect.TypeFor[T](), body)
}

func checkParamsOf(t reflect.Type, body []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return invalid("The request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("The request body is not valid JSON: data after the top-level value")
	}
	if msg := checkValue("", t, "", v); msg != "" {
		return invalid("%s", msg)
	}
	return nil
}

// checkValue returns "" when v is acceptable for t, else a message that
// starts with the path. enumKey names the field for the enum table.
func checkValue(path string, t reflect.Type, enumKey string, v any) string {
	at := func(format string, args ...any) string {
		p := path
		if p == "" {
			p = "body"
		}
		return p + ": " + fmt.Sprintf(format, args...)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isOpt(t) {
		if v == nil {
			return "" // an explicit null clears an optional field
		}
		return checkValue(path, t.Field(0).Type, enumKey, v)
	}
	switch {
	case t == timeType:
		s, ok := v.(string)
		if !ok {
			return at("Input should be a valid datetime")
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return at("Input should be a valid datetime, not %q", s)
		}
		return ""
	case t == rawType:
		return ""
	}
	switch t.Kind() {
	case reflect.Interface:
		return ""
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return at("Input should be a valid string")
		}
		if t.PkgPath() == constantPkg {
			if want := constValue(t); s != want {
				return at("Input should be %q, not %q", want, s)
			}
			return ""
		}
		allowed := sdkEnumFields[enumKey]
		if allowed == nil && t.Name() != "string" {
			allowed = sdkEnumTypes[t.Name()]
		}
		if allowed != nil && !slices.Contains(allowed, s) {
			return at("Input should be %s, not %q", quoteList(allowed), s)
		}
		return ""
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return at("Input should be a valid boolean")
		}
		return ""
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return at("Input should be a valid integer")
		}
		if _, err := n.Int64(); err != nil {
			return at("Input should be a valid integer, not %s", n)
		}
		return ""
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return at("Input should be a valid number")
		}
		return ""
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return at("Input should be a valid list")
		}
		for i, e := range arr {
			if msg := checkValue(fmt.Sprintf("%s[%d]", path, i), t.Elem(), "", e); msg != "" {
				return msg
			}
		}
		return ""
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return at("Input should be a valid dictionary")
		}
		for _, k := range sortedKeys(obj) {
			if msg := checkValue(join(path, k), t.Elem(), "", obj[k]); msg != "" {
				return msg
			}
		}
		return ""
	case reflect.Struct:
		if embeds(t, apiUnionType) {
			return checkUnion(path, t, v, at)
		}
		return checkObject(path, t, v, at)
	}
	return ""
}

// checkObject checks a JSON object against a param struct.
func checkObject(path string, t reflect.Type, v any, at func(string, ...any) string) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return at("Input should be a valid dictionary or object")
	}
	l := objectLayoutOf(t)
	fields, extras := l.fields, l.extras
	for _, k := range sortedKeys(obj) {
		sf, ok := fields[k]
		if !ok {
			if extras {
				continue
			}
			return join(path, k) + ": Extra inputs are not permitted"
		}
		if obj[k] == nil {
			// null clears an optional field (the SDK sends it with
			// param.Null); a required one must have a value.
			if sf.Tag.Get("api") == "required" && !isOpt(sf.Type) {
				return join(path, k) + ": Input should not be null"
			}
			continue
		}
		if msg := checkValue(join(path, k), sf.Type, t.Name()+"."+k, obj[k]); msg != "" {
			return msg
		}
	}
	for _, name := range l.required {
		if _, ok := obj[name]; !ok {
			return join(path, name) + ": Field required"
		}
	}
	return ""
}

// objectLayout is what checkObject needs of a param struct, computed once
// per type.
type objectLayout struct {
	fields   map[string]reflect.StructField // by JSON name
	required []string                       // sorted
	extras   bool                           // api:"extrafields": any key goes
}

var objectLayouts sync.Map // reflect.Type → *objectLayout

func objectLayoutOf(t reflect.Type) *objectLayout {
	if l, ok := objectLayouts.Load(t); ok {
		return l.(*objectLayout)
	}
	l := &objectLayout{fields: map[string]reflect.StructField{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Tag.Get("api") == "extrafields" {
			l.extras = true
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		l.fields[name] = sf
		if sf.Tag.Get("api") == "required" {
			l.required = append(l.required, name)
		}
	}
	slices.Sort(l.required)
	objectLayouts.Store(t, l)
	return l
}

var constValues sync.Map // reflect.Type → string

// constValue returns the value of a shared/constant type (its Default).
func constValue(t reflect.Type) string {
	if v, ok := constValues.Load(t); ok {
		return v.(string)
	}
	v := reflect.Zero(t).MethodByName("Default").Call(nil)[0].String()
	constValues.Store(t, v)
	return v
}

// checkUnion checks a value against the variants of a param union. An
// object goes to the variants whose constant discriminator (a field typed
// with a shared/constant type: "type", or "name" for tool configs) it
// matches; the value is accepted when one candidate accepts it, and the
// error of the best candidate is reported otherwise.
func checkUnion(path string, t reflect.Type, v any, at func(string, ...any) string) string {
	variants, keys := unionVariantsOf(t)
	obj, isObj := v.(map[string]any)
	candidates := variants
	for key := range keys {
		got, ok := obj[key].(string)
		if !isObj || !ok {
			continue
		}
		var known []string
		var match []unionVariant
		for _, vr := range variants {
			if vr.key == key {
				known = append(known, vr.disc)
				if vr.disc == got {
					match = append(match, vr)
				}
			} else if vr.key == "" {
				match = append(match, vr)
			}
		}
		if !slices.Contains(known, got) {
			return join(path, key) + fmt.Sprintf(": Input tag %q does not match any of the expected tags: %s", got, quoteList(known))
		}
		candidates = match
		break
	}
	best, bestObj := "", false
	for _, c := range candidates {
		msg := checkValue(path, c.f.Type, t.Name()+"."+c.f.Name, v)
		if msg == "" {
			return ""
		}
		// Report the error of the first variant of the value's shape.
		if obj := isObj && isStructVariant(c.f.Type); best == "" || obj && !bestObj {
			best, bestObj = msg, obj
		}
	}
	if best == "" {
		return at("Input does not match any accepted form")
	}
	return best
}

// unionVariant is one variant of a param union and its discriminator.
type unionVariant struct {
	f         reflect.StructField
	key, disc string // the variant's constant field and its value
}

type unionLayout struct {
	variants []unionVariant
	keys     map[string]int // discriminator keys and how many variants use each
}

var unionLayouts sync.Map // reflect.Type → *unionLayout

func unionVariantsOf(t reflect.Type) ([]unionVariant, map[string]int) {
	if l, ok := unionLayouts.Load(t); ok {
		u := l.(*unionLayout)
		return u.variants, u.keys
	}
	u := &unionLayout{keys: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || !strings.Contains(sf.Tag.Get("json"), "inline") {
			continue
		}
		key, disc := discriminator(sf.Type)
		u.variants = append(u.variants, unionVariant{sf, key, disc})
		if key != "" {
			u.keys[key]++
		}
	}
	unionLayouts.Store(t, u)
	return u.variants, u.keys
}

// discriminator returns the JSON name and value of a variant's constant
// field ("type": "agent"), or "" when the variant is not an object with
// one. The "type" field wins when a variant has several.
func discriminator(t reflect.Type) (key, value string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "", ""
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Type.PkgPath() == constantPkg && (key == "" || name == "type") {
			key, value = name, constValue(sf.Type)
		}
	}
	return key, value
}

func isStructVariant(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !isOpt(t)
}

// isOpt reports whether t is a param.Opt[T].
func isOpt(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == apiObjectType.PkgPath() && strings.HasPrefix(t.Name(), "Opt[")
}

func embeds(t reflect.Type, e reflect.Type) bool {
	for i := range t.NumField() {
		if sf := t.Field(i); sf.Anonymous && sf.Type == e {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
