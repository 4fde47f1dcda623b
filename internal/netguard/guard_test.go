package netguard_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/netguard"
)

func TestSpecial(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.5.4", "private"},
		{"172.32.0.1", ""},
		{"192.168.0.1", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "shared (carrier-grade NAT)"},
		{"0.0.0.0", "unspecified"},
		{"255.255.255.255", "reserved"},
		{"224.0.0.251", "multicast"},
		{"::1", "loopback"},
		{"::", "unspecified"},
		{"fe80::1", "link-local"},
		{"fd00::1", "private"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::a9fe:a9fe", "link-local (NAT64)"},
		{"64:ff9b::808:808", ""},
		{"2002:7f00:1::1", "loopback (6to4)"},
		{"::127.0.0.1", "IPv4-compatible"},
	}
	for _, tt := range tests {
		if got := netguard.Special(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Special(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func serverAddr(t *testing.T, ts *httptest.Server) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(ts.Listener.Addr().String())
}

func TestGuardRefusesPrivateTargets(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") }))
	defer ts.Close()
	port := serverAddr(t, ts).Port()

	var g netguard.Guard
	client := &http.Client{Transport: g.Transport(), Timeout: 5 * time.Second}
	for _, url := range []string{
		ts.URL,
		"http://localhost:" + itoa(port) + "/",
		"http://[::ffff:127.0.0.1]:" + itoa(port) + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:" + itoa(port) + "/",
		"http://0.0.0.0:" + itoa(port) + "/",
	} {
		t.Run(url, func(t *testing.T) {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s succeeded, want refused", url)
			}
			if !netguard.IsBlocked(err) {
				t.Fatalf("GET %s: %v, want a BlockedError", url, err)
			}
		})
	}
}

func TestGuardAllowsExceptionsAndPrivateWhenConfigured(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer ts.Close()
	for name, g := range map[string]*netguard.Guard{
		"allow private": {AllowPrivate: true},
		"exception":     {Allow: []netip.AddrPort{serverAddr(t, ts)}},
	} {
		t.Run(name, func(t *testing.T) {
			client := &http.Client{Transport: g.Transport(), Timeout: 5 * time.Second}
			resp, err := client.Get(ts.URL)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "ok" {
				t.Errorf("body = %q, want ok", body)
			}
		})
	}
}

// A public-looking server (allowed by exception) redirects to an internal
// one: the redirect's connection is checked like the first and refused.
func TestGuardRefusesRedirectToPrivate(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal secret") }))
	defer internal.Close()
	for _, target := range []string{
		internal.URL + "/admin",
		"http://169.254.169.254/latest/meta-data/iam/",
		"http://localhost:" + itoa(serverAddr(t, internal).Port()) + "/",
	} {
		t.Run(target, func(t *testing.T) {
			public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, http.StatusFound)
			}))
			defer public.Close()
			g := &netguard.Guard{Allow: []netip.AddrPort{serverAddr(t, public)}}
			client := &http.Client{Transport: g.Transport(), Timeout: 5 * time.Second}
			resp, err := client.Get(public.URL)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("redirect to %s followed: %d %q", target, resp.StatusCode, body)
			}
			if !netguard.IsBlocked(err) {
				t.Fatalf("GET: %v, want a BlockedError", err)
			}
		})
	}
}

func TestGuardDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var g netguard.Guard
	_, err = g.DialContext(context.Background(), "tcp", ln.Addr().String())
	if !netguard.IsBlocked(err) {
		t.Fatalf("DialContext = %v, want a BlockedError", err)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
