package tools

import (
	"context"
	"encoding/json"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	gomail "github.com/wneessen/go-mail"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
)

// MaxRecipients bounds the addresses of one e-mail (to and cc together).
const MaxRecipients = 50

// SendEmailInput is the arguments of vargate_send_email.
type SendEmailInput struct {
	To      string `json:"to" jsonschema:"recipient address, or several separated by commas"`
	Subject string `json:"subject" jsonschema:"subject line"`
	Body    string `json:"body" jsonschema:"plain-text body"`
	CC      string `json:"cc,omitempty" jsonschema:"carbon-copy addresses, separated by commas"`
}

// SendEmailResult is the structured result of vargate_send_email.
type SendEmailResult struct {
	Status     string   `json:"status"`
	MessageID  string   `json:"message_id"`
	Recipients []string `json:"recipients"`
}

// EmailConnector sends e-mail over SMTP with the tenant's smtp credential,
// registered with tool_id vargate_send_email. Port 465 uses implicit TLS;
// other ports require STARTTLS, except for a relay on a loopback address.
type EmailConnector struct {
	Credentials Credentials
	// Guard checks the SMTP server's address: the host comes from a
	// tenant's credential and must not reach the gateway's own network.
	Guard *netguard.Guard
	// Timeout bounds one delivery (30 s if zero).
	Timeout time.Duration
}

// NewSendEmailTool returns vargate_send_email over c.
func NewSendEmailTool(c *EmailConnector) *Tool {
	t, err := NewTool(Tool{
		Name:        SendEmail,
		Title:       "Send e-mail",
		Description: "Send a plain-text e-mail from the organisation's mail account.",
		Schema: schemaFor[SendEmailInput](func(s *jsonschema.Schema) {
			s.Properties["to"].MinLength = ptr(3)
			s.Properties["to"].MaxLength = ptr(4000)
			s.Properties["cc"].MaxLength = ptr(4000)
			s.Properties["subject"].MaxLength = ptr(998)
			s.Properties["body"].MaxLength = ptr(100000)
		}),
		Summary: func(args json.RawMessage) string {
			var in SendEmailInput
			_ = json.Unmarshal(args, &in)
			return "send an email to " + in.To
		},
		Connector: c,
	})
	if err != nil {
		panic(err)
	}
	return t
}

// Validate implements Validator: the addresses must parse.
func (e *EmailConnector) Validate(c *Call) error {
	in, err := inputOf[SendEmailInput](c)
	if err != nil {
		return err
	}
	_, err = recipients(in)
	return err
}

func recipients(in SendEmailInput) ([]string, error) {
	var all []string
	for _, f := range []struct{ name, v string }{{"to", in.To}, {"cc", in.CC}} {
		if strings.TrimSpace(f.v) == "" {
			continue
		}
		list, err := mail.ParseAddressList(f.v)
		if err != nil {
			return nil, vargate.Invalid(f.name, "not a list of e-mail addresses")
		}
		for _, a := range list {
			all = append(all, a.Address)
		}
	}
	if len(all) == 0 {
		return nil, vargate.Invalid("to", "at least one recipient is required")
	}
	if len(all) > MaxRecipients {
		return nil, vargate.Invalid("to", "at most %d recipients", MaxRecipients)
	}
	if strings.ContainsAny(in.Subject, "\r\n") {
		return nil, vargate.Invalid("subject", "must be one line")
	}
	return all, nil
}

// Call implements Connector: it runs the call and scrubs the result and
// error of every credential value released for it.
func (e *EmailConnector) Call(ctx context.Context, c *Call) (Result, error) {
	return c.scrub(e.call(ctx, c))
}

func (e *EmailConnector) call(ctx context.Context, c *Call) (Result, error) {
	in, err := inputOf[SendEmailInput](c)
	if err != nil {
		return Result{}, err
	}
	rcpts, err := recipients(in)
	if err != nil {
		return Result{}, err
	}
	secret, err := useCredential(ctx, e.Credentials, c, SendEmail, "", "")
	if err != nil {
		return Result{}, err
	}
	defer secret.Wipe()
	cfg, err := secret.SMTP()
	if err != nil {
		return Result{}, err
	}
	if strings.Contains(cfg.Host, "/") || strings.HasPrefix(cfg.Host, "unix:") {
		return Result{}, vargate.Errorf(vargate.KindInvalid, "the smtp credential's host must be a host name or address")
	}
	timeout := e.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	msg := gomail.NewMsg()
	if err := msg.From(cfg.From); err != nil {
		return Result{}, vargate.Errorf(vargate.KindInvalid, "the smtp credential's from address is not valid")
	}
	if err := msg.ToFromString(in.To); err != nil {
		return Result{}, vargate.Invalid("to", "not a list of e-mail addresses")
	}
	if in.CC != "" {
		if err := msg.CcFromString(in.CC); err != nil {
			return Result{}, vargate.Invalid("cc", "not a list of e-mail addresses")
		}
	}
	msg.Subject(in.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, in.Body)
	msg.SetMessageID()
	msg.SetDate()
	msg.SetGenHeader("X-Vargate-Action-Id", c.ActionID)

	guard := e.Guard
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(timeout),
		gomail.WithDialContextFunc(guard.DialContext),
	}
	switch {
	case cfg.Port == 465:
		opts = append(opts, gomail.WithSSL())
	case isLoopbackHost(cfg.Host):
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if isLoopbackHost(cfg.Host) {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return Result{}, Failed(err, "the smtp credential could not be used")
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if netguard.IsBlocked(err) {
			return Result{}, Failed(err, "the SMTP server's address is not allowed")
		}
		return Result{}, Failed(err, "the mail server did not accept the message")
	}
	return JSONResult(SendEmailResult{Status: "sent", MessageID: msg.GetMessageID(), Recipients: rcpts})
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}
