package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// LocalKeyProvider keeps KEKs in a file (KEKFileName in the data
// directory), one "ID base64-key" line each, the last line current. The
// file is created with mode 0600 on first start, and the provider refuses
// a file that group or others may read. It re-reads the file when it
// changes, so `vargate vault rotate-kek` reaches running gateways.
//
// The file must be backed up apart from the database: without it no
// credential can be opened. It protects data at rest in the database and
// its backups, not against someone who can read the gateway's files.
type LocalKeyProvider struct {
	path   string
	logger *slog.Logger

	mu      sync.Mutex
	keys    map[string]cipher.AEAD
	order   []string // IDs in file order; the last is current
	modTime time.Time
	size    int64
}

const localScheme = "vargate/vault/kek/local/v1"
const localIDPrefix = "local:"

// OpenLocalKeyProvider opens the key file at path, creating it with one
// fresh KEK if it does not exist.
func OpenLocalKeyProvider(path string, logger *slog.Logger) (*LocalKeyProvider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &LocalKeyProvider{path: path, logger: logger}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if err := p.create(); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return nil, err
	}
	return p, nil
}

func newKEKLine() (id, line string) {
	key := make([]byte, 32)
	idb := make([]byte, 8)
	if _, err := rand.Read(key); err != nil {
		panic("vault: crypto/rand failed: " + err.Error())
	}
	if _, err := rand.Read(idb); err != nil {
		panic("vault: crypto/rand failed: " + err.Error())
	}
	id = fmt.Sprintf("%s%x", localIDPrefix, idb)
	return id, id + " " + base64.StdEncoding.EncodeToString(key) + "\n"
}

const kekFileHeader = `# Vargate key-encryption keys (local key provider). Keep this file secret,
# mode 0600, and back it up apart from the database: without it no stored
# credential can be opened. One "ID KEY" line per key; the last is current.
# Remove an older line only when "vargate vault rotate-kek" reports that no
# data key uses it.
`

// create writes a new key file with one KEK; O_EXCL makes a concurrent
// first start lose cleanly instead of overwriting.
func (p *LocalKeyProvider) create() error {
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	id, line := newKEKLine()
	_, err = f.WriteString(kekFileHeader + line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p.path)
		return fmt.Errorf("write key file: %w", err)
	}
	p.logger.LogAttrs(context.Background(), slog.LevelWarn, "created a new key-encryption key file; back it up apart from the database",
		slog.String(logKeyPath, p.path), slog.String(logKeyKEK, id))
	return nil
}

// loadLocked reads and checks the key file. Callers hold p.mu.
func (p *LocalKeyProvider) loadLocked() error {
	fi, err := os.Lstat(p.path)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key file %s is not a regular file", p.path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("key file %s has mode %04o: group or others may read it; run chmod 600 %s", p.path, perm, p.path)
	}
	data, err := os.ReadFile(p.path)
	if err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	defer clear(data)
	keys := map[string]cipher.AEAD{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(id, localIDPrefix) {
			return fmt.Errorf("key file %s line %d: want \"local:ID BASE64KEY\"", p.path, n)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil || len(key) != 32 {
			return fmt.Errorf("key file %s line %d: key is not 32 bytes of base64", p.path, n)
		}
		block, err := aes.NewCipher(key)
		clear(key)
		if err != nil {
			return err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		if _, dup := keys[id]; dup {
			return fmt.Errorf("key file %s line %d: duplicate key ID %s", p.path, n, id)
		}
		keys[id] = aead
		order = append(order, id)
	}
	if len(order) == 0 {
		return fmt.Errorf("key file %s holds no key", p.path)
	}
	p.keys, p.order, p.modTime, p.size = keys, order, fi.ModTime(), fi.Size()
	return nil
}

// refreshLocked re-reads the file if it changed since the last read.
func (p *LocalKeyProvider) refreshLocked() error {
	fi, err := os.Lstat(p.path)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if fi.ModTime().Equal(p.modTime) && fi.Size() == p.size {
		return nil
	}
	return p.loadLocked()
}

// Wrap implements KeyProvider.
func (p *LocalKeyProvider) Wrap(_ context.Context, dek, aad []byte) ([]byte, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refreshLocked(); err != nil {
		return nil, "", err
	}
	id := p.order[len(p.order)-1]
	aead := p.keys[id]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	out := append([]byte{sealV1}, nonce...)
	return aead.Seal(out, nonce, dek, kekAAD(localScheme, aad)), id, nil
}

// Unwrap implements KeyProvider.
func (p *LocalKeyProvider) Unwrap(_ context.Context, wrapped []byte, kekID string, aad []byte) ([]byte, error) {
	p.mu.Lock()
	aead, ok := p.keys[kekID]
	if !ok {
		if err := p.refreshLocked(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		aead, ok = p.keys[kekID]
	}
	p.mu.Unlock()
	if !ok {
		return nil, errUnknownKEK(kekID, ProviderLocal)
	}
	ns := aead.NonceSize()
	if len(wrapped) < 1+ns+aead.Overhead() || wrapped[0] != sealV1 {
		return nil, errors.New("wrapped data key is malformed")
	}
	dek, err := aead.Open(nil, wrapped[1:1+ns], wrapped[1+ns:], kekAAD(localScheme, aad))
	if err != nil {
		return nil, errors.New("wrapped data key failed authentication")
	}
	return dek, nil
}

// CurrentKEK implements KeyProvider.
func (p *LocalKeyProvider) CurrentKEK(context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refreshLocked(); err != nil {
		return "", err
	}
	return p.order[len(p.order)-1], nil
}

// KEKs implements KeyProvider.
func (p *LocalKeyProvider) KEKs(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refreshLocked(); err != nil {
		return nil, err
	}
	return append([]string(nil), p.order...), nil
}

// NewKEK appends a fresh KEK to the file (write to a temporary file, sync,
// rename) and makes it current.
func (p *LocalKeyProvider) NewKEK(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refreshLocked(); err != nil {
		return "", err
	}
	old, err := os.ReadFile(p.path)
	if err != nil {
		return "", fmt.Errorf("read key file: %w", err)
	}
	defer clear(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	id, line := newKEKLine()
	tmp, err := os.CreateTemp(filepath.Dir(p.path), ".kek-*.tmp")
	if err != nil {
		return "", fmt.Errorf("new key file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	_, err = tmp.Write(append(old, line...))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		return "", fmt.Errorf("replace key file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(p.path)); err == nil {
		_ = d.Sync() // make the rename durable; best effort on filesystems without directory sync
		d.Close()
	}
	if err := p.loadLocked(); err != nil {
		return "", err
	}
	p.logger.LogAttrs(ctx, slog.LevelInfo, "created key-encryption key", slog.String(logKeyPath, p.path), slog.String(logKeyKEK, id))
	return id, nil
}

// Close implements KeyProvider.
func (p *LocalKeyProvider) Close() error { return nil }
