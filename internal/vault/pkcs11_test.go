//go:build cgo

package vault_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

// softHSMModules are where distributions install SoftHSM2's PKCS#11 module.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                   // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",  // Debian multiarch
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", // Debian arm64
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora
	"/usr/local/lib/softhsm/libsofthsm2.so",             // source builds
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS
}

// softHSM initialises a fresh SoftHSM2 token in a temporary directory and
// returns its configuration. It skips when SoftHSM2 is not installed,
// except under CI=true, where the HSM provider must be tested.
func softHSM(t *testing.T) vault.PKCS11Config {
	t.Helper()
	module := os.Getenv("VARGATE_TEST_PKCS11_MODULE")
	if module == "" {
		for _, m := range softHSMModules {
			if _, err := os.Stat(m); err == nil {
				module = m
				break
			}
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if module == "" || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("SoftHSM2 is required under CI (apt-get install -y softhsm2): module %q, softhsm2-util: %v", module, err)
		}
		t.Skip("SoftHSM2 not installed (apt-get install -y softhsm2); set CI=true to make this fatal")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	cfg := vault.PKCS11Config{Module: module, TokenLabel: "vargate-test", PIN: vargate.NewID("", 8), KeyLabel: "vargate-kek-test"}
	out, err := exec.Command(util, "--init-token", "--free", "--label", cfg.TokenLabel,
		"--pin", cfg.PIN, "--so-pin", vargate.NewID("", 8)).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return cfg
}

func TestPKCS11KeyProvider(t *testing.T) {
	cfg := softHSM(t)
	ctx := t.Context()

	if _, err := vault.OpenPKCS11KeyProvider(ctx, vault.PKCS11Config{Module: cfg.Module, TokenLabel: cfg.TokenLabel, PIN: "wrong-pin-1234", KeyLabel: cfg.KeyLabel}, nil); err == nil {
		t.Fatal("wrong PIN accepted")
	} else if strings.Contains(err.Error(), "wrong-pin-1234") {
		t.Errorf("error quotes the PIN: %v", err)
	}

	p, err := vault.OpenKeyProvider(ctx, vault.KeyProviderConfig{Provider: vault.ProviderPKCS11, PKCS11: cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first, err := p.CurrentKEK(ctx)
	if err != nil || !strings.HasPrefix(first, "pkcs11:") {
		t.Fatalf("first KEK = %q, %v", first, err)
	}

	// The KEK lives on the token as a sensitive, non-extractable AES key.
	c11, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: cfg.PIN})
	if err != nil {
		t.Fatal(err)
	}
	found, err := c11.FindKeys(nil, []byte(cfg.KeyLabel))
	if err != nil || len(found) != 1 {
		t.Fatalf("keys labelled %s on the token: %d, %v", cfg.KeyLabel, len(found), err)
	}
	attrs, err := c11.GetAttributes(found[0], []crypto11.AttributeType{crypto11.CkaExtractable, crypto11.CkaSensitive, crypto11.CkaToken})
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[crypto11.AttributeType]byte{crypto11.CkaExtractable: 0, crypto11.CkaSensitive: 1, crypto11.CkaToken: 1} {
		if a := attrs[typ]; a == nil || len(a.Value) != 1 || a.Value[0] != want {
			t.Errorf("attribute %#x = %v, want %d", typ, a, want)
		}
	}
	if v, err := c11.GetAttribute(found[0], crypto11.CkaValue); err == nil && len(v.Value) > 0 {
		t.Errorf("the KEK's value can be read out of the token (%d bytes)", len(v.Value))
	}
	c11.Close()

	dek := bytes.Repeat([]byte{9}, 32)
	wrapped, kek, err := p.Wrap(ctx, dek, []byte("aad"))
	if err != nil || kek != first {
		t.Fatalf("wrap: %q, %v", kek, err)
	}
	if got, err := p.Unwrap(ctx, wrapped, kek, []byte("aad")); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap: %x, %v", got, err)
	}
	if _, err := p.Unwrap(ctx, wrapped, kek, []byte("other")); err == nil {
		t.Error("unwrap with other additional data succeeded")
	}
	tampered := bytes.Clone(wrapped)
	tampered[5] ^= 1
	if _, err := p.Unwrap(ctx, tampered, kek, []byte("aad")); err == nil {
		t.Error("unwrap of a tampered key succeeded")
	}
	if _, err := p.Unwrap(ctx, wrapped, "local:0102", []byte("aad")); err == nil {
		t.Error("unwrap under a local KEK ID succeeded")
	}

	// The whole vault on the HSM: register, use, rotate the KEK inside the
	// HSM, and a second provider (another gateway) still opens everything.
	db := storetest.Open(t, sqlstore.SQLite)
	f := newFixture(t, db)
	v := vault.New(sqlstore.NewVaultStore(db), p, f.audit, nil)
	register(t, v, "tenant-a", "anthropic", "", vault.TypeAPIKey, "sk-ant-hsm-a")
	register(t, v, "tenant-b", "anthropic", "", vault.TypeAPIKey, "sk-ant-hsm-b")
	rep, err := v.RotateKEK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KEK == first || rep.Rewrapped != 2 || len(rep.Remaining) != 0 {
		t.Errorf("rotation report = %+v", rep)
	}
	ids, _ := p.KEKs(ctx)
	if len(ids) != 2 || ids[0] != first || ids[1] != rep.KEK {
		t.Errorf("KEKs after rotation = %v, want [%s %s]", ids, first, rep.KEK)
	}
	other, err := vault.OpenPKCS11KeyProvider(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ov := vault.New(sqlstore.NewVaultStore(db), other, f.audit, nil)
	if err := ov.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if got := use(t, ov, "tenant-b", "anthropic", ""); got != "sk-ant-hsm-b" {
		t.Errorf("second gateway after rotation: %q", got)
	}
	if got, err := other.Unwrap(ctx, wrapped, first, []byte("aad")); err != nil || !bytes.Equal(got, dek) {
		t.Errorf("old KEK after rotation: %v", err)
	}
}
