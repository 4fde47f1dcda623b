package vault

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/vargate/vargate"
)

// Redacted is what a Secret (or a password inside a structured value)
// prints, logs and marshals as.
const Redacted = "[REDACTED]"

// Source says where a released Secret came from.
type Source string

// The sources.
const (
	// SourceVault is a tenant credential sealed in the vault.
	SourceVault Source = "vault"
	// SourceEnvironment is an operator-supplied fallback from the
	// gateway's environment (ANTHROPIC_API_KEY), used only for tenants that
	// registered none.
	SourceEnvironment Source = "environment"
)

// Secret is a credential value released by Use, in memory only. Every way
// of printing it — String, fmt verbs including %#v, slog, encoding/json,
// encoding.TextMarshaler — yields Redacted; only Reveal returns the value.
// The bytes sit behind a pointer so that even a struct holding a Secret in
// an unexported field prints an address, not the value.
type Secret struct {
	meta   Metadata
	source Source
	v      *secretBytes
}

type secretBytes struct{ b []byte }

// EnvSecret returns a fallback Secret for toolID taken from the environment
// variable envName (whose value is value). It returns the zero Secret when
// value is empty.
func EnvSecret(toolID string, typ Type, envName, value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{
		meta:   Metadata{ID: "env:" + envName, ToolID: toolID, Name: DefaultName, Type: typ, State: StateActive},
		source: SourceEnvironment,
		v:      &secretBytes{b: []byte(value)},
	}
}

// IsZero reports whether s holds no value.
func (s Secret) IsZero() bool { return s.v == nil || s.v.b == nil }

// Reveal returns the value. Use it at the last moment (building the
// request header, dialling the database) and do not keep, log or return
// it; the slice is shared with s, so do not modify it either.
func (s Secret) Reveal() []byte {
	if s.v == nil {
		return nil
	}
	return s.v.b
}

// Wipe overwrites the value in memory. Connectors call it (deferred) once
// the value has been handed to the outgoing request.
func (s Secret) Wipe() {
	if s.v == nil {
		return
	}
	clear(s.v.b)
	s.v.b = nil
}

// Metadata describes the credential the value came from.
func (s Secret) Metadata() Metadata { return s.meta }

// Source says whether the value came from the vault or the environment.
func (s Secret) Source() Source { return s.source }

// String returns a redacted description.
func (s Secret) String() string {
	if s.meta.ID == "" {
		return Redacted
	}
	return Redacted + " " + s.meta.ID + " v" + strconv.Itoa(s.meta.Version)
}

// GoString is String: %#v redacts too.
func (s Secret) GoString() string { return s.String() }

// Format implements fmt.Formatter so that every verb redacts.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer: metadata, never the value.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("credential_id", s.meta.ID),
		slog.String("tool_id", s.meta.ToolID),
		slog.String("name", s.meta.Name),
		slog.Int("version", s.meta.Version),
		slog.String("value", Redacted),
	)
}

// MarshalJSON marshals as the string Redacted.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText marshals as Redacted.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

func (s Secret) wantType(t Type) error {
	if s.meta.Type != t {
		return vargate.Errorf(vargate.KindInvalid, "credential %s is of type %s, not %s", s.meta.ID, s.meta.Type, t)
	}
	return nil
}

// BasicAuth parses a basic_auth credential.
func (s Secret) BasicAuth() (BasicAuth, error) {
	var v BasicAuth
	if err := s.wantType(TypeBasicAuth); err != nil {
		return v, err
	}
	return v, decodeStrict(s.Reveal(), &v)
}

// SMTP parses an smtp credential.
func (s Secret) SMTP() (SMTP, error) {
	var v SMTP
	if err := s.wantType(TypeSMTP); err != nil {
		return v, err
	}
	return v, decodeStrict(s.Reveal(), &v)
}

// Header parses a header credential.
func (s Secret) Header() (Header, error) {
	var v Header
	if err := s.wantType(TypeHeader); err != nil {
		return v, err
	}
	return v, decodeStrict(s.Reveal(), &v)
}

// BasicAuth is the value of a basic_auth credential. Printing, logging or
// marshalling it redacts the password.
type BasicAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// String redacts the password.
func (b BasicAuth) String() string {
	return "{username:" + b.Username + " password:" + Redacted + "}"
}

// Format implements fmt.Formatter so that every verb redacts.
func (b BasicAuth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue implements slog.LogValuer.
func (b BasicAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", b.Username), slog.String("password", Redacted))
}

// MarshalJSON redacts the password.
func (b BasicAuth) MarshalJSON() ([]byte, error) {
	return marshalRedacted(map[string]any{"username": b.Username, "password": Redacted})
}

// SMTP is the value of an smtp credential. Printing, logging or
// marshalling it redacts the password.
type SMTP struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	From     string `json:"from"`
}

// String redacts the password.
func (m SMTP) String() string {
	return fmt.Sprintf("{host:%s port:%d username:%s password:%s from:%s}", m.Host, m.Port, m.Username, Redacted, m.From)
}

// Format implements fmt.Formatter so that every verb redacts.
func (m SMTP) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue implements slog.LogValuer.
func (m SMTP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", m.Host), slog.Int("port", m.Port),
		slog.String("username", m.Username), slog.String("password", Redacted), slog.String("from", m.From))
}

// MarshalJSON redacts the password.
func (m SMTP) MarshalJSON() ([]byte, error) {
	return marshalRedacted(map[string]any{"host": m.Host, "port": m.Port, "username": m.Username, "password": Redacted, "from": m.From})
}

// Header is the value of a header credential: a header name and its
// secret value. Printing, logging or marshalling it redacts the value.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// String redacts the value.
func (h Header) String() string { return "{name:" + h.Name + " value:" + Redacted + "}" }

// Format implements fmt.Formatter so that every verb redacts.
func (h Header) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, h.String()) }

// LogValue implements slog.LogValuer.
func (h Header) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", h.Name), slog.String("value", Redacted))
}

// MarshalJSON redacts the value.
func (h Header) MarshalJSON() ([]byte, error) {
	return marshalRedacted(map[string]any{"name": h.Name, "value": Redacted})
}

func marshalRedacted(v map[string]any) ([]byte, error) { return json.Marshal(v) }
