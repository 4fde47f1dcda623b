package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/vargate/vargate/internal/sim"
)

// demoUpstreams are the services around a gateway, built in: the Managed
// Agents API simulator (accepting only demoAnthropicKey), a web search
// engine in the Brave API's shape (demoSearchKey) and an SMTP mail sink.
// The end-to-end tests use them too.
type demoUpstreams struct {
	Sim       *sim.Server
	SimURL    string
	SearchURL string
	MailHost  string
	MailPort  int

	mail    chan demoMail
	closers []func() error
}

// demoMail is a message the mail sink received.
type demoMail struct {
	From    string
	To      []string
	Subject string
}

func startDemoUpstreams(stepDelay time.Duration, log *slog.Logger) (u *demoUpstreams, err error) {
	u = &demoUpstreams{mail: make(chan demoMail, 16)}
	defer func() {
		if err != nil {
			u.Close()
		}
	}()
	s, err := sim.New(sim.Options{APIKey: demoAnthropicKey, StepDelay: stepDelay, Logger: log})
	if err != nil {
		return nil, err
	}
	u.Sim = s
	if u.SimURL, err = u.serveHTTP(s); err != nil {
		return nil, err
	}
	u.closers = append(u.closers, s.Close) // runs before the HTTP server closes: ends the event streams
	if u.SearchURL, err = u.serveHTTP(http.HandlerFunc(demoSearch)); err != nil {
		return nil, err
	}
	u.SearchURL += "/res/v1/web/search"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mail sink: %w", err)
	}
	ms := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &demoMailSession{sink: u.mail}, nil }))
	ms.Domain = "localhost"
	ms.ReadTimeout, ms.WriteTimeout = 30*time.Second, 30*time.Second
	go func() { _ = ms.Serve(ln) }() // ends with Close
	u.closers = append(u.closers, ms.Close)
	u.MailHost, u.MailPort = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	return u, nil
}

// serveHTTP serves h on a free loopback port and returns its base URL.
func (u *demoUpstreams) serveHTTP(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Close
	u.closers = append(u.closers, srv.Close)
	return "http://" + ln.Addr().String(), nil
}

// Mail delivers what the mail sink receives.
func (u *demoUpstreams) Mail() <-chan demoMail { return u.mail }

// Close stops everything, the simulator first.
func (u *demoUpstreams) Close() error {
	var errs []error
	for i := len(u.closers) - 1; i >= 0; i-- {
		errs = append(errs, u.closers[i]())
	}
	return errors.Join(errs...)
}

// demoSearch answers like the Brave Search API for demoSearchKey, with
// canned results.
func demoSearch(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Subscription-Token") != demoSearchKey {
		http.Error(w, `{"error":"invalid subscription token"}`, http.StatusUnauthorized)
		return
	}
	type result struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		Description string `json:"description"`
	}
	results := []result{
		{"EU AI Act: obligations for general-purpose AI models", "https://example.com/eu-ai-act-gpai",
			"Providers must keep technical documentation, publish a training-data summary and have a copyright policy."},
		{"NIST AI Risk Management Framework", "https://example.com/nist-ai-rmf", "Govern, map, measure and manage AI risks."},
		{"ISO/IEC 42001 AI management systems", "https://example.com/iso-42001", "Requirements for an AI management system."},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"query": map[string]string{"original": r.URL.Query().Get("q")},
		"web": map[string]any{"results": results}})
}

// demoMailSession is one SMTP transaction of the mail sink: it accepts
// any message and reports it.
type demoMailSession struct {
	sink chan<- demoMail
	m    demoMail
}

func (s *demoMailSession) Mail(from string, _ *smtp.MailOptions) error { s.m.From = from; return nil }
func (s *demoMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *demoMailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, msg.Body)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	s.m.Subject = subject
	select {
	case s.sink <- s.m:
	default: // nobody is reading: drop the notice, not the message
	}
	return nil
}

func (s *demoMailSession) Reset()        { s.m = demoMail{} }
func (s *demoMailSession) Logout() error { return nil }
