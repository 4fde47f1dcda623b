package vault_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/vault"
)

func TestLocalKeyProviderFile(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	p, err := vault.OpenKeyProvider(ctx, vault.KeyProviderConfig{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, vault.KEKFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", perm)
	}
	dek := bytes.Repeat([]byte{7}, 32)
	wrapped, kek, err := p.Wrap(ctx, dek, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kek, "local:") || bytes.Contains(wrapped, dek) {
		t.Errorf("wrap: kek %q, wrapped contains the key: %v", kek, bytes.Contains(wrapped, dek))
	}

	// A second open reads the same key rather than creating another.
	p2, err := vault.OpenLocalKeyProvider(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p2.Unwrap(ctx, wrapped, kek, []byte("aad"))
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap by a second provider: %x, %v", got, err)
	}
	if _, err := p2.Unwrap(ctx, wrapped, kek, []byte("other aad")); err == nil {
		t.Error("unwrap with other additional data succeeded")
	}
	tampered := bytes.Clone(wrapped)
	tampered[len(tampered)-1] ^= 1
	if _, err := p2.Unwrap(ctx, tampered, kek, []byte("aad")); err == nil {
		t.Error("unwrap of a tampered key succeeded")
	}
	if _, err := p2.Unwrap(ctx, wrapped, "local:0000000000000000", []byte("aad")); err == nil || !strings.Contains(err.Error(), "local:0000000000000000") {
		t.Errorf("unwrap under an unknown KEK: %v, want an error naming it", err)
	}

	// Rotation by another process (p2) reaches the running provider (p).
	newKEK, err := p2.NewKEK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode after rotation = %04o", fi.Mode().Perm())
	}
	w2, k2, err := p.Wrap(ctx, dek, nil)
	if err != nil || k2 != newKEK {
		t.Fatalf("running provider wraps under %q (%v), want the new KEK %q", k2, err, newKEK)
	}
	if _, err := p2.Unwrap(ctx, w2, k2, nil); err != nil {
		t.Errorf("unwrap under the new KEK: %v", err)
	}
	if got, err := p.Unwrap(ctx, wrapped, kek, []byte("aad")); err != nil || !bytes.Equal(got, dek) {
		t.Errorf("the old KEK no longer unwraps: %v", err)
	}
	ids, _ := p.KEKs(ctx)
	if len(ids) != 2 || ids[0] != kek || ids[1] != newKEK {
		t.Errorf("KEKs = %v, want [%s %s]", ids, kek, newKEK)
	}
}

func TestLocalKeyProviderRefusesReadableFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		path := filepath.Join(t.TempDir(), vault.KEKFileName)
		if _, err := vault.OpenLocalKeyProvider(path, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := vault.OpenLocalKeyProvider(path, nil)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: got %v, want a refusal telling the operator to chmod 600", mode, err)
		}
	}
}

func TestLocalKeyProviderBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"empty":      "# only a comment\n",
		"bad line":   "local:01 not-base64!\n",
		"short key":  "local:01 AAAA\n",
		"foreign id": "pkcs11:01 " + strings.Repeat("A", 43) + "=\n",
		"duplicate":  "local:01 " + strings.Repeat("A", 43) + "=\nlocal:01 " + strings.Repeat("B", 43) + "=\n",
	} {
		path := filepath.Join(t.TempDir(), vault.KEKFileName)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := vault.OpenLocalKeyProvider(path, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := vault.OpenKeyProvider(t.Context(), vault.KeyProviderConfig{Provider: "kms", DataDir: t.TempDir()}, nil); err == nil {
		t.Error("unknown provider accepted")
	}
	if _, err := vault.OpenKeyProvider(t.Context(), vault.KeyProviderConfig{Provider: "pkcs11"}, nil); err == nil {
		t.Error("pkcs11 without a module accepted")
	}
}
