package vault_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/vault"
)

const leak = "sk-ant-DO-NOT-PRINT"

func TestSecretRedacts(t *testing.T) {
	s := vault.EnvSecret("anthropic", vault.TypeAPIKey, "ANTHROPIC_API_KEY", leak)
	if string(s.Reveal()) != leak {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
	type holder struct {
		Exported vault.Secret
		hidden   vault.Secret
	}
	h := holder{s, s}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h), fmt.Sprintf(verb, []vault.Secret{s}))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s, h), s.String(), s.GoString())
	for _, v := range []any{s, &s, h, map[string]vault.Secret{"k": s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	text, _ := s.MarshalText()
	out = append(out, string(text))
	var buf bytes.Buffer
	for _, hd := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(hd)
		l.Info("msg", "secret", s, "ptr", &s, "holder", h)
		l.Info("msg", slog.Any("secret", s))
	}
	out = append(out, buf.String())
	for _, o := range out {
		if strings.Contains(o, leak) || strings.Contains(o, fmt.Sprintf("%x", leak)) {
			t.Errorf("leaked: %s", o)
		}
	}
	if !strings.Contains(fmt.Sprint(s), vault.Redacted) || !strings.Contains(buf.String(), vault.Redacted) {
		t.Errorf("redaction marker missing: %s / %s", fmt.Sprint(s), buf.String())
	}
}

func TestStructuredValuesRedact(t *testing.T) {
	values := []any{
		vault.BasicAuth{Username: "bot", Password: leak},
		vault.SMTP{Host: "smtp.example.com", Port: 587, Username: "bot", Password: leak, From: "a@b"},
		vault.Header{Name: "X-Token", Value: leak},
	}
	for _, v := range values {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		b, _ := json.Marshal(v)
		all := []string{buf.String(), string(b), fmt.Sprintf("%v %+v %#v %s", v, v, v, v)}
		for _, o := range all {
			if strings.Contains(o, leak) {
				t.Errorf("%T leaked: %s", v, o)
			}
		}
	}
}
