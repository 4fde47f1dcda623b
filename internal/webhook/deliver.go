package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
)

// leaseSlack is added to the attempt timeout to form a claim's lease.
const leaseSlack = 30 * time.Second

func (s *Service) lease() time.Duration {
	return vargate.OrDefault(s.Timeout, DefaultTimeout) + leaseSlack
}

// dispatch claims due messages as workers become free and hands each to
// a worker goroutine.
func (s *Service) dispatch() {
	defer s.wg.Done()
	ctx := s.life
	slots := make(chan struct{}, s.Workers)
	poll := time.NewTicker(vargate.OrDefault(s.PollInterval, DefaultPollInterval))
	defer poll.Stop()
	for {
		select { // one free worker at least
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		now := s.now()
		msgs, err := s.Store.Claim(ctx, now, now.Add(s.lease()), n)
		if err != nil && ctx.Err() == nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "claim webhook messages", slog.String(logKeyError, err.Error()))
		}
		for range n - len(msgs) {
			<-slots
		}
		for _, m := range msgs {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-slots }()
				s.deliver(ctx, m)
			}()
		}
		if len(msgs) == n {
			continue // there may be more due at once
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-s.wake:
		}
	}
}

// deliver makes one attempt at m with the tenant's current settings.
func (s *Service) deliver(ctx context.Context, m Message) {
	st, err := s.Store.Settings(ctx, m.TenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		s.record(m, Attempt{At: s.now(), Error: "the webhook was removed"}, StatusCancelled, time.Time{})
		return
	}
	if err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "load webhook settings", slog.String(logKeyTenant, m.TenantID),
			slog.String(logKeyError, err.Error()))
		s.release(m)
		return
	}
	s.attempt(ctx, m, &st)
}

// release makes a claimed message due again now, without counting an
// attempt (shutdown or a store hiccup).
func (s *Service) release(m Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Store.Release(ctx, m.ID, s.now()); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelWarn, "release webhook message; it is retried after its lease",
			slog.String(logKeyMessage, m.ID), slog.String(logKeyError, err.Error()))
	}
}

// attempt signs and sends m to the endpoint in st and records the outcome.
func (s *Service) attempt(ctx context.Context, m Message, st *StoredSettings) {
	start := s.now()
	a := Attempt{MessageID: m.ID, N: m.Attempts, TenantID: m.TenantID, At: start, URL: st.URL}
	key, err := s.key(ctx, st)
	if err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "open webhook secret", slog.String(logKeyTenant, m.TenantID),
			slog.String(logKeyError, err.Error()))
		a.Error = "the signing secret cannot be opened"
		s.finishAttempt(m, a)
		return
	}
	code, sendErr := s.send(ctx, st.URL, key, m, start)
	a.Duration = time.Since(start)
	if sendErr != nil && ctx.Err() != nil && m.Event != EventTest {
		// Shutting down: not the endpoint's fault, and not an attempt.
		s.release(m)
		return
	}
	a.StatusCode = code
	if sendErr != nil {
		a.Error = sendErr.Error()
	}
	s.finishAttempt(m, a)
}

func (s *Service) key(ctx context.Context, st *StoredSettings) ([]byte, error) {
	if s.Sealer == nil {
		return nil, errors.New("no sealing key is configured")
	}
	secret, err := s.Sealer.Open(ctx, st.TenantID, secretPurpose, st.SecretSealed)
	if err != nil {
		return nil, err
	}
	return ParseSecret(string(secret))
}

// send POSTs the signed message and returns the HTTP status; an error
// means no 2xx answer.
func (s *Service) send(ctx context.Context, url string, key []byte, m Message, ts time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, vargate.OrDefault(s.Timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vargate-Webhooks/"+vargate.Version)
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(key, m.ID, ts, m.Payload))
	resp, err := s.Client.Do(req)
	if err != nil {
		// The error is logged and kept with the attempt: never with the
		// URL's query (a token an endpoint may carry there).
		var be *netguard.BlockedError
		if errors.As(err, &be) {
			return 0, fmt.Errorf("webhook target refused: %s is a %s address (set VARGATE_WEBHOOK_ALLOW_PRIVATE=true to allow)", be.Addr.Addr(), be.Reason)
		}
		return 0, netguard.RedactError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// finishAttempt decides what follows an attempt and records it.
func (s *Service) finishAttempt(m Message, a Attempt) {
	if a.Error == "" {
		s.record(m, a, StatusDelivered, time.Time{})
		return
	}
	now := s.now()
	next := now.Add(s.Backoff(m.Attempts))
	switch {
	case m.Event == EventTest:
		s.record(m, a, StatusFailed, time.Time{})
	case a.StatusCode == http.StatusGone:
		a.Error += " (410 Gone: not retried)"
		s.record(m, a, StatusFailed, time.Time{})
	case next.After(m.GiveUpAt):
		a.Error += "; giving up after " + strconv.Itoa(m.Attempts) + " attempts"
		s.record(m, a, StatusFailed, time.Time{})
	default:
		s.record(m, a, StatusPending, next)
	}
}

func (s *Service) record(m Message, a Attempt, status Status, next time.Time) {
	a.MessageID, a.TenantID = m.ID, m.TenantID
	if a.N == 0 {
		a.N = m.Attempts
	}
	if next.IsZero() {
		next = a.At
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	level := slog.LevelDebug
	if status == StatusFailed {
		level = slog.LevelWarn
	}
	s.Logger.LogAttrs(ctx, level, "webhook attempt", slog.String(logKeyTenant, m.TenantID),
		slog.String(logKeyMessage, m.ID), slog.String(logKeyEvent, m.Event), slog.Int(logKeyAttempt, a.N),
		slog.Int(logKeyStatus, a.StatusCode), slog.String(logKeyError, a.Error))
	if err := s.Store.RecordAttempt(ctx, a, status, next); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "record webhook attempt; it is retried after its lease",
			slog.String(logKeyMessage, m.ID), slog.String(logKeyError, err.Error()))
	}
}

// Backoff returns the wait after the attempts-th failed attempt:
// BaseDelay doubled per earlier failure, capped at MaxDelay, then
// jittered to between half and all of that.
func (s *Service) Backoff(attempts int) time.Duration {
	base, ceil := vargate.OrDefault(s.BaseDelay, DefaultBaseDelay), vargate.OrDefault(s.MaxDelay, DefaultMaxDelay)
	d := base
	for i := 1; i < attempts && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	half := d / 2
	return half + rand.N(d-half+1)
}
