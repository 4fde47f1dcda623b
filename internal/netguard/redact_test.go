package netguard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/netguard"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://api.example.com/v1?key=s3cret&q=1", "https://api.example.com/v1?key=REDACTED&q=REDACTED"},
		{"https://user:pw-s3cret@api.example.com/", "https://user:REDACTED@api.example.com/"},
		{"https://api.example.com/p#tok=s3cret", "https://api.example.com/p#REDACTED"},
		{"https://api.example.com/plain", "https://api.example.com/plain"},
		{"::not a url?key=s3cret", "::not a url?REDACTED"},
	} {
		if got := netguard.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRedactErrorOfAFailedRequest: the http client's error quotes the URL
// it was given; redacted, it keeps the cause (for errors.Is and the
// guard's own checks) and loses the query values.
func TestRedactErrorOfAFailedRequest(t *testing.T) {
	const secret = "s3cret-query-token"
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:1/x?key="+secret, nil)
	_, err := http.DefaultClient.Do(req)
	if err == nil || !strings.Contains(err.Error(), secret) {
		t.Fatalf("premise: the client's error quotes the URL: %v", err)
	}
	for _, e := range []error{err, fmt.Errorf("call upstream: %w", err)} {
		red := netguard.RedactError(e)
		if strings.Contains(red.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", red), secret) {
			t.Errorf("redacted error still has the secret: %v", red)
		}
		if !errors.Is(red, context.Canceled) {
			t.Errorf("redacted error lost its cause: %v", red)
		}
	}
}
