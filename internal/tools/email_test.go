package tools_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

type smtpServer struct {
	port string
	mu   sync.Mutex
	msgs []smtpMsg
}

type smtpMsg struct {
	user, from string
	to         []string
	data       string
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	srv := &smtpServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{srv: srv}, nil }))
	s.AllowInsecureAuth = true
	s.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, srv.port, _ = net.SplitHostPort(ln.Addr().String())
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return srv
}

type session struct {
	srv *smtpServer
	m   smtpMsg
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != "pw" {
			return errors.New("invalid credentials")
		}
		s.m.user = user
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.m.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.m.to = append(s.m.to, to); return nil }
func (s *session) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.m.data = string(b)
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.m)
	s.srv.mu.Unlock()
	return nil
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

func TestSendEmail(t *testing.T) {
	srv := startSMTP(t)
	creds := newCreds()
	creds.put("t1", tools.SendEmail, "", vault.TypeSMTP, `{"host":"127.0.0.1","port":`+srv.port+`,"username":"mailer","password":"pw","from":"agent@acme.example"}`)
	creds.put("t2", tools.SendEmail, "", vault.TypeSMTP, `{"host":"127.0.0.1","port":`+srv.port+`,"username":"mailer","password":"wrong","from":"agent@acme.example"}`)
	tool := tools.NewSendEmailTool(&tools.EmailConnector{Credentials: creds, Guard: &netguard.Guard{AllowPrivate: true}})
	args := json.RawMessage(`{"to":"Bob <bob@example.com>, carol@example.com","cc":"dan@example.com","subject":"Quarterly report","body":"Numbers attached."}`)

	res, err := tool.Connector.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "act-1", Args: args})
	if err != nil {
		t.Fatal(err)
	}
	var out tools.SendEmailResult
	if err := json.Unmarshal(res.Structured, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != "sent" || out.MessageID == "" || len(out.Recipients) != 3 {
		t.Errorf("result = %+v", out)
	}
	if len(srv.msgs) != 1 {
		t.Fatalf("server received %d messages", len(srv.msgs))
	}
	m := srv.msgs[0]
	if m.user != "mailer" || m.from != "agent@acme.example" || strings.Join(m.to, ",") != "bob@example.com,carol@example.com,dan@example.com" {
		t.Errorf("envelope = %+v", m)
	}
	for _, want := range []string{"Subject: Quarterly report", "Numbers attached.", "X-Vargate-Action-Id: act-1"} {
		if !strings.Contains(m.data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.data)
		}
	}

	t.Run("rejected credentials", func(t *testing.T) {
		_, err := tool.Connector.Call(t.Context(), &tools.Call{TenantID: "t2", ActionID: "a", Args: args})
		if !vargate.IsKind(err, vargate.KindUpstream) || strings.Contains(err.Error(), "wrong") {
			t.Errorf("err = %v, want an upstream failure", err)
		}
	})
	t.Run("guard refuses a loopback server", func(t *testing.T) {
		strict := tools.NewSendEmailTool(&tools.EmailConnector{Credentials: creds, Guard: &netguard.Guard{}})
		_, err := strict.Connector.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "a", Args: args})
		if err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("err = %v, want the address refused", err)
		}
	})
	t.Run("bad addresses are invalid before sending", func(t *testing.T) {
		for _, a := range []string{`{"to":"nobody","subject":"s","body":"b"}`, `{"to":"a@b.c","subject":"two\nlines","body":"b"}`} {
			if err := tool.Precheck(&tools.Call{Args: json.RawMessage(a)}); !vargate.IsKind(err, vargate.KindInvalid) {
				t.Errorf("Validate(%s) = %v, want invalid", a, err)
			}
		}
	})
}
