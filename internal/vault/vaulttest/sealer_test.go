package vaulttest_test

import (
	"bytes"
	"testing"

	"github.com/vargate/vargate/internal/vault/vaulttest"
)

// TestSealer: a round trip works; another tenant, another purpose or an
// altered byte fails; the sealed bytes do not contain the plaintext.
func TestSealer(t *testing.T) {
	s, ctx := vaulttest.NewSealer(), t.Context()
	pt := []byte("whsec_the-secret-value")
	sealed, err := s.Seal(ctx, "t1", "webhook", pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, pt) {
		t.Fatal("sealed value contains the plaintext")
	}
	if got, err := s.Open(ctx, "t1", "webhook", sealed); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := vaulttest.NewSealer().Open(ctx, "t1", "webhook", sealed); err != nil {
		t.Errorf("another Sealer (same fixed key) cannot open: %v", err)
	}
	altered := bytes.Clone(sealed)
	altered[len(altered)-1] ^= 1
	for name, c := range map[string]struct {
		tenant, purpose string
		sealed          []byte
	}{
		"tenant": {"t2", "webhook", sealed}, "purpose": {"t1", "approval", sealed}, "altered": {"t1", "webhook", altered}, "short": {"t1", "webhook", sealed[:4]},
	} {
		if _, err := s.Open(ctx, c.tenant, c.purpose, c.sealed); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
