package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/vault"
)

// Health is how an upstream's pooled session is doing.
type Health struct {
	// State is connected, connecting, disconnected (not used yet, or
	// closed) or failing (the last attempt failed).
	State           string     `json:"state"`
	LastError       string     `json:"last_error,omitempty"`
	ConnectedAt     *time.Time `json:"connected_at,omitempty"`
	ListedAt        *time.Time `json:"listed_at,omitempty"`
	Server          string     `json:"server,omitempty"`
	ProtocolVersion string     `json:"protocol_version,omitempty"`
}

// Health states.
const (
	StateConnected    = "connected"
	StateConnecting   = "connecting"
	StateDisconnected = "disconnected"
	StateFailing      = "failing"
)

type key struct{ tenant, name string }

// conn is the pooled client session of one upstream: made on first use,
// shared by every call (MCP multiplexes requests on a session), remade
// after it breaks.
type conn struct {
	svc *Service
	key key

	cfg Upstream // never changes: a new configuration gets a new conn

	mu sync.Mutex // held while connecting: callers wait for one attempt
	cs *mcp.ClientSession

	hmu    sync.Mutex // guards the fields below; never held while waiting
	closed bool
	health Health
	header *injection      // the session's own credential (connect, list, stream)
	tools  map[string]live // as of the last listing; nil before it
	// notified are the (tool, digest) changes already reported.
	notified map[string]string
}

func (c *conn) setHealth(f func(h *Health)) {
	c.hmu.Lock()
	f(&c.health)
	c.hmu.Unlock()
}

// Health returns a copy of the session's health.
func (c *conn) Health() Health {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.health
}

func (c *conn) isClosed() bool {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.closed
}

// liveTools returns the tools the upstream served at the last listing
// (nil before the first).
func (c *conn) liveTools() map[string]live {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.tools
}

// session returns the connected session, connecting if needed.
func (c *conn) session(ctx context.Context) (*mcp.ClientSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed() {
		return nil, vargate.Errorf(vargate.KindUpstream, "upstream %s was removed or changed", c.key.name)
	}
	if c.cs != nil {
		return c.cs, nil
	}
	c.setHealth(func(h *Health) { h.State = StateConnecting })
	cs, err := c.connect(ctx)
	if err != nil {
		c.setHealth(func(h *Health) { h.State, h.LastError = StateFailing, err.Error() })
		return nil, err
	}
	c.cs = cs
	now := c.svc.Now()
	res := cs.InitializeResult()
	c.setHealth(func(h *Health) {
		h.State, h.LastError, h.ConnectedAt = StateConnected, "", &now
		if res != nil {
			h.ProtocolVersion = res.ProtocolVersion
			if res.ServerInfo != nil {
				h.Server = res.ServerInfo.Name + " " + res.ServerInfo.Version
			}
		}
	})
	go c.watch(cs)
	return cs, nil
}

// watch marks the session gone when it ends (the process exited, the
// server closed it), so that the next call reconnects.
func (c *conn) watch(cs *mcp.ClientSession) {
	err := cs.Wait()
	c.drop(cs, err)
}

// drop forgets a broken session; the next use connects again.
func (c *conn) drop(cs *mcp.ClientSession, err error) {
	c.mu.Lock()
	if c.cs != cs || c.cs == nil {
		c.mu.Unlock()
		return
	}
	c.cs = nil
	c.mu.Unlock()
	c.hmu.Lock()
	c.header = nil
	c.hmu.Unlock()
	_ = cs.Close()
	msg := "session ended"
	if err != nil {
		msg = err.Error()
	}
	c.setHealth(func(h *Health) {
		if h.State == StateConnected {
			h.State, h.LastError = StateDisconnected, msg
		}
	})
}

// close ends the session for good (the upstream was changed or removed).
func (c *conn) close() {
	c.mu.Lock()
	cs := c.cs
	c.cs = nil
	c.mu.Unlock()
	c.hmu.Lock()
	c.header, c.closed = nil, true
	c.hmu.Unlock()
	if cs != nil {
		_ = cs.Close()
	}
	c.setHealth(func(h *Health) { h.State = StateDisconnected })
}

// connect opens a session to the upstream, bounded by its connect timeout.
func (c *conn) connect(ctx context.Context) (*mcp.ClientSession, error) {
	s, u := c.svc, c.cfg
	ctx, cancel := context.WithTimeout(ctx, u.Timeouts.Connect())
	defer cancel()
	var t mcp.Transport
	var secret []byte
	if u.Stdio() {
		cmd := exec.Command(u.Command[0], u.Command[1:]...)
		// The command gets a bare environment, never the gateway's own
		// (which holds its keys): PATH and HOME, and the credential.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		cmd.Stderr = nil
		if cr := u.Credential; cr != nil {
			sec, err := s.use(ctx, u, vault.Purpose{ActionID: "upstream-connect-" + uuid.NewString(), Actor: "upstream:" + u.Name, Host: u.host()})
			if err != nil {
				return nil, err
			}
			secret = append([]byte(nil), sec.Reveal()...)
			cmd.Env = append(cmd.Env, cr.Param+"="+string(sec.Reveal()))
			sec.Wipe()
		}
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	} else {
		if u.Credential != nil {
			sec, err := s.use(ctx, u, vault.Purpose{ActionID: "upstream-connect-" + uuid.NewString(), Actor: "upstream:" + u.Name, Host: u.host()})
			if err != nil {
				return nil, err
			}
			inj, err := inject(sec, u.Credential)
			sec.Wipe()
			if err != nil {
				return nil, err
			}
			c.hmu.Lock()
			c.header = &inj
			c.hmu.Unlock()
			secret = []byte(inj.secret)
		}
		t = &mcp.StreamableClientTransport{
			Endpoint: u.URL,
			HTTPClient: &http.Client{
				Transport: &credTransport{base: s.transport(), conn: c},
				// The credential goes on every request the transport sends,
				// so a redirect may not leave the upstream's host.
				CheckRedirect: sameHost,
			},
			// A broken stream is reported soon rather than retried for long;
			// the next call reconnects.
			MaxRetries: 1,
		}
	}
	k := c.key
	client := mcp.NewClient(&mcp.Implementation{Name: "vargate-gateway", Version: vargate.Version}, &mcp.ClientOptions{
		Logger:       s.sdkLogger(),
		Capabilities: &mcp.ClientCapabilities{},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			go s.refreshKey(k)
		},
	})
	cs, err := client.Connect(ctx, t, nil)
	if err != nil {
		return nil, connectError(u, err)
	}
	c.setHealth(func(h *Health) { h.LastError = "" })
	if len(secret) > 0 {
		c.svc.addScrub(k, secret)
	}
	return cs, nil
}

// connectError says why an upstream could not be reached, for the admin.
func connectError(u Upstream, err error) error {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if netguard.IsBlocked(err) {
		return vargate.Wrap(vargate.KindInvalid, err,
			"connecting to %s was refused: the address is not public (VARGATE_ALLOW_PRIVATE_TARGETS=true allows it on a single-host deployment)", u.Name)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return vargate.Wrap(vargate.KindUnavailable, err, "upstream %s did not answer within %s", u.Name, u.Timeouts.Connect())
	}
	return vargate.Wrap(vargate.KindUnavailable, err, "cannot connect to upstream %s: %s", u.Name, msg)
}

// sameHost allows a redirect only to the host (and scheme) of the first
// request.
func sameHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("upstream redirected too often")
	}
	if first := via[0].URL; !strings.EqualFold(req.URL.Host, first.Host) || req.URL.Scheme != first.Scheme {
		return fmt.Errorf("upstream redirected to another host (%s)", req.URL.Host)
	}
	return nil
}

// sameConfig reports whether a pooled session was made for cfg.
func sameConfig(a, b Upstream) bool {
	a.CreatedAt, b.CreatedAt, a.UpdatedAt, b.UpdatedAt, a.CreatedBy, b.CreatedBy = time.Time{}, time.Time{}, time.Time{}, time.Time{}, "", ""
	return reflect.DeepEqual(a, b)
}

// credKey holds a call's own credential in its context.
type credKey struct{}

// credTransport adds the upstream credential to every request: the
// call's own (released for that action) when the request belongs to a
// call, else the session's.
type credTransport struct {
	base http.RoundTripper
	conn *conn
}

func (t *credTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	inj, _ := r.Context().Value(credKey{}).(*injection)
	if inj == nil {
		t.conn.hmu.Lock()
		inj = t.conn.header
		t.conn.hmu.Unlock()
	}
	if inj != nil {
		r = r.Clone(r.Context())
		r.Header.Set(inj.header, inj.value)
	}
	return t.base.RoundTrip(r)
}

// injection is a credential as one header.
type injection struct {
	header, value string
	secret        string // the credential's value, to scrub from results
}

// inject places a released credential.
func inject(s vault.Secret, c *Credential) (injection, error) {
	m := s.Metadata()
	if m.Type == vault.TypeHeader {
		h, err := s.Header()
		if err != nil {
			return injection{}, err
		}
		name := h.Name
		if c.In == InHeader && c.Param != "" {
			name = c.Param
		}
		if c.In == InBearer {
			return injection{header: "Authorization", value: "Bearer " + h.Value, secret: h.Value}, nil
		}
		return injection{header: name, value: h.Value, secret: h.Value}, nil
	}
	switch m.Type {
	case vault.TypeAPIKey, vault.TypeBearerToken, vault.TypeOAuthToken:
	default:
		return injection{}, vargate.Errorf(vargate.KindInvalid, "a %s credential cannot authenticate to an MCP server", m.Type)
	}
	v := string(s.Reveal())
	if c.In == InBearer {
		return injection{header: "Authorization", value: "Bearer " + v, secret: v}, nil
	}
	if c.Param == "" {
		return injection{}, vargate.Invalid("credential.param", "required for a %s credential in a header", m.Type)
	}
	return injection{header: c.Param, value: v, secret: v}, nil
}
