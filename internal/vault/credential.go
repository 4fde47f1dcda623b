package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vargate/vargate"
)

// Type is the kind of a credential, which fixes the format of its value.
// The set is closed; Types lists it.
type Type string

// The credential types and the value each expects.
const (
	// TypeAPIKey is an opaque API key (the tenant's Anthropic key is one).
	TypeAPIKey Type = "api_key"
	// TypeBearerToken is an opaque token sent as Authorization: Bearer.
	TypeBearerToken Type = "bearer_token"
	// TypeBasicAuth is a JSON object {"username": …, "password": …}.
	TypeBasicAuth Type = "basic_auth"
	// TypeOAuthToken is an opaque OAuth access token.
	TypeOAuthToken Type = "oauth_token"
	// TypeDatabaseURL is a PostgreSQL DSN (postgres://… or key=value form)
	// for the read-database connector.
	TypeDatabaseURL Type = "database_url"
	// TypeSMTP is a JSON object {"host", "port", "username", "password",
	// "from"} for the e-mail connector.
	TypeSMTP Type = "smtp"
	// TypeHeader is a JSON object {"name": …, "value": …}: a custom header
	// an HTTP tool sends.
	TypeHeader Type = "header"
)

// Types returns every credential type, in documentation order.
func Types() []Type {
	return []Type{TypeAPIKey, TypeBearerToken, TypeBasicAuth, TypeOAuthToken, TypeDatabaseURL, TypeSMTP, TypeHeader}
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, k := range Types() {
		if t == k {
			return true
		}
	}
	return false
}

func typeList() string {
	s := make([]string, 0, len(Types()))
	for _, t := range Types() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

// State is where a credential version is in its life. Only an active
// version holds key material.
type State string

// The states.
const (
	StateActive     State = "active"
	StateSuperseded State = "superseded" // a newer version was registered
	StateDeleted    State = "deleted"    // destroyed by DELETE
)

// DefaultName is the credential name used when a registration gives none.
const DefaultName = "default"

// AnthropicToolID is the tool ID under which a tenant registers the
// Anthropic API key its managed-agent sessions run on.
const AnthropicToolID = "anthropic"

// DefaultMaxValueSize is the largest accepted value, in bytes, when
// Vault.MaxValueSize is zero. Large enough for a service-account JSON,
// small enough that a value is never a file.
const DefaultMaxValueSize = 16 << 10

// Metadata is everything about a credential except its value. It is safe
// to return from any API and to log.
type Metadata struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	ToolID   string `json:"tool_id"`
	Name     string `json:"name"`
	Type     Type   `json:"credential_type"`
	Version  int    `json:"version"`
	State    State  `json:"state"`
	// Fingerprint is a short keyed MAC of the value: equal values of one
	// tenant have equal fingerprints, and nothing else can be learned.
	Fingerprint string     `json:"fingerprint"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	// DestroyedAt is when the key material was destroyed (superseded or
	// deleted); nil while active.
	DestroyedAt *time.Time `json:"destroyed_at,omitempty"`
}

// Registration is a credential value to store. Registering a tool and name
// that already has an active credential creates the next version and
// destroys the previous one.
type Registration struct {
	ToolID string
	// Name tells apart several credentials of one tool; DefaultName if empty.
	Name  string
	Type  Type
	Value []byte
}

var fieldNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

var identRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// validIdent reports whether s is a valid tool ID or credential name: 1–128
// letters, digits, '_', '.', ':' or '-', starting with a letter or digit.
func validIdent(s string) bool { return identRE.MatchString(s) }

// validate checks a registration and returns the value in its stored form.
// Error messages name the field at fault and never quote the value.
func (r *Registration) validate(maxSize int) ([]byte, error) {
	if r.ToolID == "" {
		return nil, vargate.Invalid("tool_id", "required")
	}
	if !validIdent(r.ToolID) {
		return nil, vargate.Invalid("tool_id", "must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit")
	}
	if _, ok := BindingOf(r.ToolID); !ok {
		return nil, vargate.Invalid("tool_id", "must say where the credential may be sent: %q (managed-agent sessions), a built-in tool or stdio upstream (%q…) or %q with a lower-case host name",
			AnthropicToolID, ConnectorToolPrefix, HostToolPrefix+"HOST")
	}
	if r.Name == "" {
		r.Name = DefaultName
	}
	if !validIdent(r.Name) {
		return nil, vargate.Invalid("name", "must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit")
	}
	// A host credential named header.NAME is sent in header NAME
	// (vargate_http_request): not one that frames the message.
	if h, ok := strings.CutPrefix(r.Name, "header."); ok && strings.HasPrefix(r.ToolID, HostToolPrefix) && (!validHeaderName(h) || ForbiddenHeader(h)) {
		return nil, vargate.Invalid("name", "header.%s cannot carry a credential (Host, Connection, Upgrade, TE, Proxy-Authorization, Content-Length and the like are refused)", h)
	}
	if r.Type == "" {
		return nil, vargate.Invalid("credential_type", "required; one of %s", typeList())
	}
	if !r.Type.Valid() {
		return nil, vargate.Invalid("credential_type", "unknown credential type; use one of %s", typeList())
	}
	if len(r.Value) == 0 {
		return nil, vargate.Invalid("value", "required and must not be empty")
	}
	if len(r.Value) > maxSize {
		return nil, vargate.Invalid("value", "larger than %d bytes", maxSize)
	}
	if !utf8.Valid(r.Value) {
		return nil, vargate.Invalid("value", "must be UTF-8 text")
	}
	switch r.Type {
	case TypeAPIKey, TypeBearerToken, TypeOAuthToken:
		if err := checkToken(r.Value); err != nil {
			return nil, err
		}
		return bytes.Clone(r.Value), nil
	case TypeDatabaseURL:
		if err := checkDatabaseURL(r.Value); err != nil {
			return nil, err
		}
		return bytes.Clone(r.Value), nil
	case TypeBasicAuth:
		var v BasicAuth
		if err := decodeStrict(r.Value, &v); err != nil {
			return nil, err
		}
		if v.Username == "" {
			return nil, vargate.Invalid("value.username", "required")
		}
		if strings.ContainsRune(v.Username, ':') {
			return nil, vargate.Invalid("value.username", "must not contain ':'")
		}
		return bytes.Clone(r.Value), nil
	case TypeSMTP:
		var v SMTP
		if err := decodeStrict(r.Value, &v); err != nil {
			return nil, err
		}
		switch {
		case v.Host == "":
			return nil, vargate.Invalid("value.host", "required")
		case v.Port < 1 || v.Port > 65535:
			return nil, vargate.Invalid("value.port", "must be from 1 to 65535")
		case v.From == "":
			return nil, vargate.Invalid("value.from", "required")
		}
		return bytes.Clone(r.Value), nil
	case TypeHeader:
		var v Header
		if err := decodeStrict(r.Value, &v); err != nil {
			return nil, err
		}
		if !validHeaderName(v.Name) {
			return nil, vargate.Invalid("value.name", "must be an HTTP header name")
		}
		if v.Value == "" || strings.ContainsAny(v.Value, "\r\n\x00") {
			return nil, vargate.Invalid("value.value", "required, on one line")
		}
		return bytes.Clone(r.Value), nil
	}
	return nil, vargate.Invalid("credential_type", "unknown credential type")
}

// checkToken accepts an opaque token: printable, no whitespace (a pasted
// trailing newline is a classic mistake, refused rather than trimmed).
func checkToken(v []byte) error {
	for _, r := range string(v) {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return vargate.Invalid("value", "must not contain whitespace or control characters")
		}
	}
	return nil
}

// checkDatabaseURL accepts postgres://… / postgresql://… URLs with a host,
// or the key=value DSN form. Parse errors are not wrapped: their text
// would quote the URL, password included.
func checkDatabaseURL(v []byte) error {
	s := string(v)
	if strings.ContainsAny(s, "\r\n\x00") {
		return vargate.Invalid("value", "must be on one line")
	}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return vargate.Invalid("value", "not a valid postgres:// URL with a host")
		}
		return nil
	}
	if strings.Contains(s, "://") || !strings.Contains(s, "=") {
		return vargate.Invalid("value", "want a PostgreSQL DSN: postgres://user:password@host:port/db or host=… dbname=…")
	}
	return nil
}

// decodeStrict decodes a JSON object value, rejecting unknown fields and
// trailing data. Errors name the sub-field, never its content.
func decodeStrict(v []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return vargate.Invalid("value."+te.Field, "wrong type")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// Echo the key only if it looks like a field name: a key inside
			// a secret value may itself be a pasted secret.
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if fieldNameRE.MatchString(name) {
				return vargate.Invalid("value."+name, "unknown field")
			}
			return vargate.Invalid("value", "unknown field")
		}
		return vargate.Invalid("value", "must be a JSON object for this credential type")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return vargate.Invalid("value", "unexpected data after the JSON object")
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return !ForbiddenHeader(s)
}
