package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// Defaults for Service's zero fields.
const (
	DefaultWorkers      = 4
	DefaultPollInterval = time.Second
	// DefaultTimeout bounds one delivery attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultBaseDelay is the wait after the first failed attempt; each
	// further failure doubles it, up to DefaultMaxDelay, with jitter.
	DefaultBaseDelay = 5 * time.Second
	DefaultMaxDelay  = time.Hour
	// DefaultMaxAge is how long a message is retried before it is given up.
	DefaultMaxAge = 24 * time.Hour
	// DefaultSettingsTTL is how long Emit trusts its cached copy of a
	// tenant's settings (changes made through this Service apply at once).
	DefaultSettingsTTL = 5 * time.Second
)

// Log attribute keys.
const (
	logKeyTenant  = "tenant_id"
	logKeyMessage = "webhook_id"
	logKeyEvent   = "event"
	logKeyStatus  = "status_code"
	logKeyAttempt = "attempt"
	logKeyError   = "error"
)

// secretPurpose is the sealing purpose of a tenant's signing secret.
const secretPurpose = "webhook/secret"

// Service keeps webhook settings, writes events to the outbox and delivers
// them in the background. Set the exported fields between New and Open;
// Close stops delivery.
type Service struct {
	Store Store
	// Sealer seals signing secrets; without one, secrets cannot be set.
	Sealer Sealer
	// Auditor, when set, records settings changes (control_plane).
	Auditor Auditor
	Logger  *slog.Logger
	Now     vargate.Clock
	// AllowPrivate permits endpoints on private, loopback and link-local
	// addresses, and plain http (VARGATE_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// Workers is the number of concurrent deliveries (DefaultWorkers if 0).
	Workers int
	// PollInterval is how often the outbox is checked when idle.
	PollInterval time.Duration
	// Timeout, BaseDelay, MaxDelay, MaxAge, SettingsTTL: see the Default
	// constants.
	Timeout     time.Duration
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	MaxAge      time.Duration
	SettingsTTL time.Duration
	// Resolver checks endpoint hosts when settings are saved
	// (net.DefaultResolver if nil).
	Resolver Resolver
	// MaxBatch caps the events one outbox transaction writes
	// (DefaultMaxBatch if 0).
	MaxBatch int
	// Retention is how long finished deliveries (delivered, failed,
	// cancelled) and their attempts are kept for GET /webhooks/deliveries;
	// zero keeps them forever. Pending ones are never pruned.
	Retention time.Duration
	// PruneInterval is how often finished deliveries past Retention are
	// deleted (DefaultPruneInterval if 0).
	PruneInterval time.Duration
	// Client sends deliveries; nil builds one whose dialer refuses
	// non-public addresses (unless AllowPrivate). A custom client must do
	// its own address checks.
	Client *http.Client

	mu     sync.Mutex
	opened bool
	closed bool
	life   context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	wmu        sync.RWMutex // guards writes and wclosed
	writes     chan *writeReq
	wclosed    bool
	writerDone chan struct{}

	cacheMu sync.Mutex
	cache   map[string]cachedSettings
}

type cachedSettings struct {
	s  *Settings // nil: no webhook
	at time.Time
}

// New returns a Service over store.
func New(store Store, sealer Sealer, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Sealer: sealer, Logger: logger, Now: func() time.Time { return time.Now().UTC() }}
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// Open starts the delivery workers.
func (s *Service) Open() error {
	if s.Store == nil {
		return errors.New("webhook: Store is required")
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = func() time.Time { return time.Now().UTC() }
	}
	s.Workers = vargate.OrDefault(s.Workers, DefaultWorkers)
	if s.Client == nil {
		s.Client = s.newClient()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return errors.New("webhook: already open")
	}
	s.opened = true
	s.wake = make(chan struct{}, 1)
	s.life, s.stop = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.dispatch()
	go s.pruner()
	s.wmu.Lock()
	s.writes, s.writerDone = make(chan *writeReq, 1024), make(chan struct{})
	s.wmu.Unlock()
	go s.writer()
	return nil
}

// Close commits the events already accepted and stops the workers.
// Deliveries in flight are abandoned and their messages made due again,
// so the next start sends them (at least once). Emit keeps working after
// Close, one transaction per event.
func (s *Service) Close() error {
	s.mu.Lock()
	if !s.opened || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.wmu.Lock()
	s.wclosed = true
	close(s.writes)
	s.wmu.Unlock()
	<-s.writerDone
	s.stop()
	s.wg.Wait()
	return nil
}

// DefaultPruneInterval is how often finished deliveries past the
// retention are deleted.
const DefaultPruneInterval = time.Hour

// pruneBatch bounds the deliveries one pruning transaction deletes.
const pruneBatch = 1000

// pruner deletes finished deliveries older than Retention, at start and
// every PruneInterval.
func (s *Service) pruner() {
	defer s.wg.Done()
	if s.Retention <= 0 {
		return
	}
	vargate.Every(s.life, vargate.OrDefault(s.PruneInterval, DefaultPruneInterval), func(ctx context.Context) {
		if _, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "prune webhook deliveries", slog.String(logKeyError, err.Error()))
		}
	})
}

// Prune deletes the deliveries that finished more than Retention ago (none
// when Retention is zero) and returns how many.
func (s *Service) Prune(ctx context.Context) (int, error) {
	if s.Retention <= 0 {
		return 0, nil
	}
	before := s.now().Add(-s.Retention)
	total := 0
	for {
		n, err := s.Store.PruneMessages(ctx, before, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

func (s *Service) newClient() *http.Client {
	tr := &http.Transport{
		// No proxy: the dial-time address check must see the real target.
		Proxy:                 nil,
		DialContext:           newDialer(s.AllowPrivate).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: vargate.OrDefault(s.Timeout, DefaultTimeout),
	}
	return &http.Client{
		Transport: tr,
		// A redirect is an answer, not a success: the endpoint must answer
		// 2xx itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// kick wakes the dispatcher without blocking.
func (s *Service) kick() {
	s.mu.Lock()
	wake := s.wake
	s.mu.Unlock()
	if wake == nil {
		return
	}
	select {
	case wake <- struct{}{}:
	default:
	}
}

// Emit writes an event to the outbox if the tenant has a webhook
// subscribed to it, and returns without waiting for delivery. data is
// the event's "data" object.
func (s *Service) Emit(ctx context.Context, tenantID, event string, data any) error {
	return s.EmitOnce(ctx, vargate.NewID("msg_", 16), tenantID, event, data)
}

// EmitOnce is Emit with the message ID (the webhook-id header) given by
// the caller: a second call with the same id writes nothing, so a caller
// that retries after a crash causes no duplicate.
func (s *Service) EmitOnce(ctx context.Context, id, tenantID, event string, data any) error {
	if !KnownEvent(event) {
		return vargate.Errorf(vargate.KindInternal, "unknown webhook event %q", event)
	}
	set, err := s.cachedSettings(ctx, tenantID)
	if err != nil {
		return err
	}
	if set == nil || !set.Subscribed(event) {
		return nil
	}
	return s.insert(ctx, id, tenantID, event, data, s.now())
}

// Payload is the JSON body of every webhook, per the Standard Webhooks
// convention.
type Payload struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// TimestampFormat is RFC 3339 with microseconds, in UTC.
const TimestampFormat = "2006-01-02T15:04:05.000000Z07:00"

func (s *Service) insert(ctx context.Context, id, tenantID, event string, data any, now time.Time) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("webhook %s data: %w", event, err)
	}
	body, err := json.Marshal(Payload{Type: event, Timestamp: now.Format(TimestampFormat), Data: raw})
	if err != nil {
		return err
	}
	m := Message{ID: id, TenantID: tenantID, Event: event, Payload: body, Status: StatusPending,
		CreatedAt: now, NextAttemptAt: now, GiveUpAt: now.Add(vargate.OrDefault(s.MaxAge, DefaultMaxAge))}
	if err := s.write(ctx, m); err != nil {
		return fmt.Errorf("write webhook to outbox: %w", err)
	}
	s.kick()
	return nil
}

// cachedSettings returns the tenant's settings (nil if none), from a
// short-lived cache so that emitting on a hot path costs no read.
func (s *Service) cachedSettings(ctx context.Context, tenantID string) (*Settings, error) {
	now := s.now()
	ttl := vargate.OrDefault(s.SettingsTTL, DefaultSettingsTTL)
	s.cacheMu.Lock()
	c, ok := s.cache[tenantID]
	s.cacheMu.Unlock()
	if ok && now.Sub(c.at) < ttl && !now.Before(c.at) {
		return c.s, nil
	}
	st, err := s.Store.Settings(ctx, tenantID)
	var set *Settings
	switch {
	case vargate.IsKind(err, vargate.KindNotFound):
	case err != nil:
		return nil, err
	default:
		set = &st.Settings
	}
	s.cacheMu.Lock()
	if s.cache == nil {
		s.cache = map[string]cachedSettings{}
	}
	s.cache[tenantID] = cachedSettings{s: set, at: now}
	s.cacheMu.Unlock()
	return set, nil
}

func (s *Service) forget(tenantID string) {
	s.cacheMu.Lock()
	delete(s.cache, tenantID)
	s.cacheMu.Unlock()
}

// Settings returns the tenant's webhook settings, or a not-found error.
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	st, err := s.Store.Settings(ctx, tenantID)
	if err != nil {
		return Settings{}, err
	}
	return st.Settings, nil
}

// Update changes a tenant's settings. Nil fields stay as they are.
type Update struct {
	// URL is the endpoint; "" removes the webhook (pending messages are
	// then cancelled).
	URL *string
	// Secret is a "whsec_…" signing secret. When nil and the tenant has
	// none yet, one is generated and returned once by UpdateSettings.
	Secret *string
	// Events are the subscribed events; empty means all.
	Events *[]string
}

// UpdateSettings applies u to the tenant's settings for actor (an API key
// ID) and returns them, plus the signing secret if one was generated (it
// is never shown again). The change is audited; if that fails the change
// stands and the error says so.
func (s *Service) UpdateSettings(ctx context.Context, tenantID, actor string, u Update) (Settings, string, error) {
	cur, err := s.Store.Settings(ctx, tenantID)
	exists := err == nil
	if err != nil && !vargate.IsKind(err, vargate.KindNotFound) {
		return Settings{}, "", err
	}
	if u.URL != nil && *u.URL == "" {
		if u.Secret != nil || u.Events != nil {
			return Settings{}, "", vargate.Invalid("webhook_url", "is empty, which removes the webhook; do not send other settings with it")
		}
		if err := s.Store.DeleteSettings(ctx, tenantID); err != nil {
			return Settings{}, "", err
		}
		s.forget(tenantID)
		err := s.audit(ctx, tenantID, actor, "webhook_settings.removed", map[string]any{"webhook_url": cur.URL})
		return Settings{TenantID: tenantID}, "", err
	}
	next := cur
	next.TenantID = tenantID
	if u.URL != nil {
		r := s.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if next.URL, err = checkURL(ctx, r, *u.URL, s.AllowPrivate); err != nil {
			return Settings{}, "", err
		}
	}
	if next.URL == "" {
		return Settings{}, "", vargate.Invalid("webhook_url", "is required")
	}
	if u.Events != nil {
		evs := []string{}
		for _, e := range *u.Events {
			if !KnownEvent(e) {
				return Settings{}, "", vargate.Invalid("webhook_events", "unknown event %q; known events: %v", e, Events())
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		next.Events = evs
	}
	var generated string
	var secret string
	switch {
	case u.Secret != nil:
		if _, err := ParseSecret(*u.Secret); err != nil {
			return Settings{}, "", err
		}
		secret = *u.Secret
	case !exists:
		generated = NewSecret()
		secret = generated
	}
	if secret != "" {
		if s.Sealer == nil {
			return Settings{}, "", vargate.Errorf(vargate.KindUnavailable, "webhook secrets cannot be stored: no sealing key is configured")
		}
		sealed, err := s.Sealer.Seal(ctx, tenantID, secretPurpose, []byte(secret))
		if err != nil {
			return Settings{}, "", fmt.Errorf("seal webhook secret: %w", err)
		}
		next.SecretSealed = sealed
	}
	now := s.now()
	if !exists {
		next.CreatedAt = now
	}
	next.UpdatedAt = now
	if err := s.Store.PutSettings(ctx, next); err != nil {
		return Settings{}, "", err
	}
	s.forget(tenantID)
	// The record names what changed, never the secret.
	err = s.audit(ctx, tenantID, actor, "webhook_settings.updated", map[string]any{
		"webhook_url": next.URL, "webhook_events": nonNil(next.Events), "secret_changed": secret != "",
		"secret_generated": generated != ""})
	return next.Settings, generated, err
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// Auditor appends to the tenant's audit trail; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// audit records a settings change. It outlives a client that disconnects:
// the change is committed, so its record must be written.
func (s *Service) audit(ctx context.Context, tenantID, actor, event string, detail map[string]any) error {
	if s.Auditor == nil {
		return nil
	}
	detail["event"] = event
	audit.AddActorName(ctx, actor, detail)
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.Auditor.Append(actx, audit.Record{TenantID: tenantID, Time: s.now(), Source: audit.SourceControlPlane,
		Decision: event, Actor: actor, Detail: b}); err != nil {
		return vargate.Wrap(vargate.KindUnavailable, err, "%s done, but its audit record could not be written", event)
	}
	return nil
}

// Deliveries returns the tenant's delivery log, newest first.
func (s *Service) Deliveries(ctx context.Context, tenantID string, f MessageFilter) ([]Message, error) {
	return s.Store.Messages(ctx, tenantID, f)
}

// Delivery returns one message of the tenant's delivery log with its
// attempts.
func (s *Service) Delivery(ctx context.Context, tenantID, id string) (Message, []Attempt, error) {
	m, err := s.Store.Message(ctx, tenantID, id)
	if err != nil {
		return Message{}, nil, err
	}
	as, err := s.Store.Attempts(ctx, tenantID, id)
	if err != nil {
		return Message{}, nil, err
	}
	return m, as, nil
}

// Retry puts a failed or cancelled message back in the queue.
func (s *Service) Retry(ctx context.Context, tenantID, id string) (Message, error) {
	now := s.now()
	if err := s.Store.Retry(ctx, tenantID, id, now, now.Add(vargate.OrDefault(s.MaxAge, DefaultMaxAge))); err != nil {
		return Message{}, err
	}
	if err := s.audit(ctx, tenantID, audit.ActorFrom(ctx, audit.ActorSystem).ID, string(audit.EventWebhookRetried), map[string]any{"message_id": id}); err != nil {
		return Message{}, err
	}
	s.kick()
	return s.Store.Message(ctx, tenantID, id)
}

// Test sends a test ping (event webhook.test) to the tenant's endpoint at
// once and returns the message with the attempt's outcome. It is logged
// like any delivery but never retried.
func (s *Service) Test(ctx context.Context, tenantID string) (Message, error) {
	st, err := s.Store.Settings(ctx, tenantID)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return Message{}, vargate.Invalid("webhook_url", "no webhook is configured; POST /dashboard/settings first")
	}
	if err != nil {
		return Message{}, err
	}
	now := s.now()
	id := vargate.NewID("msg_", 16)
	data := map[string]string{"message": "Test event from Vargate", "tenant_id": tenantID}
	raw, _ := json.Marshal(data) // a map of strings always marshals
	body, err := json.Marshal(Payload{Type: EventTest, Timestamp: now.Format(TimestampFormat), Data: raw})
	if err != nil {
		return Message{}, err
	}
	// Inserted already claimed (attempt 1, due after a lease), so that no
	// worker picks it up while it is sent here.
	m := Message{ID: id, TenantID: tenantID, Event: EventTest, Payload: body, Status: StatusPending,
		Attempts: 1, CreatedAt: now, NextAttemptAt: now.Add(s.lease()), GiveUpAt: now}
	if _, err := s.Store.InsertMessage(ctx, m); err != nil {
		return Message{}, err
	}
	if err := s.audit(ctx, tenantID, audit.ActorFrom(ctx, audit.ActorSystem).ID, string(audit.EventWebhookTested), map[string]any{"message_id": id, "webhook_url": st.URL}); err != nil {
		return Message{}, err
	}
	s.attempt(context.WithoutCancel(ctx), m, &st)
	return s.Store.Message(ctx, tenantID, id)
}
