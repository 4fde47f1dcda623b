package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

func TestRegisterValidation(t *testing.T) {
	f := newFixture(t, storetest.Open(t, sqlstore.SQLite))
	big := strings.Repeat("k", vault.DefaultMaxValueSize+1)
	tests := []struct {
		name      string
		reg       vault.Registration
		wantField string // "" means valid
	}{
		{"api key", vault.Registration{ToolID: "anthropic", Type: vault.TypeAPIKey, Value: []byte("sk-ant-api03-abc")}, ""},
		{"bearer token", vault.Registration{ToolID: "vargate_github", Type: vault.TypeBearerToken, Value: []byte("ghp_abc")}, ""},
		{"oauth token", vault.Registration{ToolID: "vargate_google", Type: vault.TypeOAuthToken, Value: []byte("ya29.abc")}, ""},
		{"basic auth", vault.Registration{ToolID: "vargate_jira", Type: vault.TypeBasicAuth, Value: []byte(`{"username":"bot","password":"pw"}`)}, ""},
		{"database url", vault.Registration{ToolID: "vargate_read_database", Type: vault.TypeDatabaseURL, Value: []byte("postgres://reader:pw@db.internal:5432/crm?sslmode=require")}, ""},
		{"database dsn", vault.Registration{ToolID: "vargate_db2", Type: vault.TypeDatabaseURL, Value: []byte("host=db.internal user=reader password=pw dbname=crm")}, ""},
		{"smtp", vault.Registration{ToolID: "vargate_send_email", Type: vault.TypeSMTP, Value: []byte(`{"host":"smtp.example.com","port":465,"username":"u","password":"p","from":"bot@example.com"}`)}, ""},
		{"header", vault.Registration{ToolID: "vargate_search", Name: "primary", Type: vault.TypeHeader, Value: []byte(`{"name":"X-Subscription-Token","value":"tok"}`)}, ""},
		{"max size", vault.Registration{ToolID: "vargate_big", Type: vault.TypeAPIKey, Value: []byte(big[1:])}, ""},

		{"unknown type", vault.Registration{ToolID: "vargate_t", Type: "password", Value: []byte("v")}, "credential_type"},
		{"missing type", vault.Registration{ToolID: "vargate_t", Value: []byte("v")}, "credential_type"},
		{"empty value", vault.Registration{ToolID: "vargate_t", Type: vault.TypeAPIKey}, "value"},
		{"oversized value", vault.Registration{ToolID: "vargate_t", Type: vault.TypeAPIKey, Value: []byte(big)}, "value"},
		{"trailing newline", vault.Registration{ToolID: "vargate_t", Type: vault.TypeAPIKey, Value: []byte("sk-ant-secret\n")}, "value"},
		{"inner space", vault.Registration{ToolID: "vargate_t", Type: vault.TypeBearerToken, Value: []byte("Bearer sk-secret")}, "value"},
		{"not utf-8", vault.Registration{ToolID: "vargate_t", Type: vault.TypeAPIKey, Value: []byte{0xff, 0xfe}}, "value"},
		{"missing tool", vault.Registration{Type: vault.TypeAPIKey, Value: []byte("v")}, "tool_id"},
		{"bad tool", vault.Registration{ToolID: "my tool", Type: vault.TypeAPIKey, Value: []byte("v")}, "tool_id"},
		{"bad name", vault.Registration{ToolID: "vargate_t", Name: "../etc", Type: vault.TypeAPIKey, Value: []byte("v")}, "name"},
		{"smtp not json", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte("smtp://u:secretpw@host")}, "value"},
		{"smtp unknown field", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte(`{"host":"h","port":25,"from":"a@b","tls":"on"}`)}, "value.tls"},
		{"smtp port type", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte(`{"host":"h","port":"25","from":"a@b"}`)}, "value.port"},
		{"smtp no host", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte(`{"port":25,"from":"a@b"}`)}, "value.host"},
		{"smtp bad port", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte(`{"host":"h","port":70000,"from":"a@b"}`)}, "value.port"},
		{"smtp no from", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte(`{"host":"h","port":25}`)}, "value.from"},
		{"smtp trailing data", vault.Registration{ToolID: "vargate_t", Type: vault.TypeSMTP, Value: []byte(`{"host":"h","port":25,"from":"a@b"} {}`)}, "value"},
		{"basic no user", vault.Registration{ToolID: "vargate_t", Type: vault.TypeBasicAuth, Value: []byte(`{"password":"secretpw"}`)}, "value.username"},
		{"basic colon user", vault.Registration{ToolID: "vargate_t", Type: vault.TypeBasicAuth, Value: []byte(`{"username":"a:b","password":"secretpw"}`)}, "value.username"},
		{"header bad name", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"X Token","value":"secretpw"}`)}, "value.name"},
		{"header host", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"Host","value":"secretpw"}`)}, "value.name"},
		{"header upgrade", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"Upgrade","value":"secretpw"}`)}, "value.name"},
		{"header te", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"TE","value":"secretpw"}`)}, "value.name"},
		{"header proxy-authorization", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"Proxy-Authorization","value":"secretpw"}`)}, "value.name"},
		{"header connection", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"Connection","value":"secretpw"}`)}, "value.name"},
		{"header content-length", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"Content-Length","value":"secretpw"}`)}, "value.name"},
		{"header transfer-encoding", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"Transfer-Encoding","value":"secretpw"}`)}, "value.name"},
		{"header no value", vault.Registration{ToolID: "vargate_t", Type: vault.TypeHeader, Value: []byte(`{"name":"X-Token"}`)}, "value.value"},
		{"database other scheme", vault.Registration{ToolID: "vargate_t", Type: vault.TypeDatabaseURL, Value: []byte("mysql://u:secretpw@h/db")}, "value"},
		{"database no host", vault.Registration{ToolID: "vargate_t", Type: vault.TypeDatabaseURL, Value: []byte("postgres://u:secretpw@/db")}, "value"},
		{"database bad url", vault.Registration{ToolID: "vargate_t", Type: vault.TypeDatabaseURL, Value: []byte("postgres://u:secret pw@h:port/db")}, "value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := f.v.Register(t.Context(), "tenant-a", tt.reg)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				if m.Type != tt.reg.Type || m.Version < 1 {
					t.Errorf("metadata = %+v", m)
				}
				return
			}
			var ve *vargate.Error
			if !errors.As(err, &ve) || ve.Kind != vargate.KindInvalid {
				t.Fatalf("Register: %v, want an invalid error", err)
			}
			if ve.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", ve.Field, tt.wantField, err)
			}
			for _, leak := range []string{"secretpw", "secret pw", "sk-ant-secret", "sk-secret"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q quotes the value", err)
				}
			}
		})
	}
}

func TestTypes(t *testing.T) {
	want := []vault.Type{"api_key", "bearer_token", "basic_auth", "oauth_token", "database_url", "smtp", "header"}
	got := vault.Types()
	if len(got) != len(want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || !got[i].Valid() {
			t.Errorf("Types()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if vault.Type("password").Valid() {
		t.Error(`"password" is a valid type`)
	}
}
