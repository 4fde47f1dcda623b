package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// DefaultKeyName is the name of a newly generated checkpoint key. A
// checkpoint's origin line is the key name, "/", and the tenant ID.
const DefaultKeyName = "vargate-audit"

// Signer signs checkpoints with an Ed25519 note key.
type Signer struct {
	signer    note.Signer
	verifier  *Verifier
	publicKey string
}

// NewSigner returns a signer for a note private key
// ("PRIVATE+KEY+name+hash+key", as note.GenerateKey makes).
func NewSigner(privateKey string) (*Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(privateKey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	// The note package derives no public key from a private one; the key
	// is "PRIVATE+KEY+name+hash+base64(0x01 || seed)".
	parts := strings.SplitN(strings.TrimSpace(privateKey), "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("checkpoint key: not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &Signer{signer: s, verifier: v, publicKey: vkey}, nil
}

// LoadOrCreateKey returns the signer whose private key is in the file at
// path, generating a key named name (DefaultKeyName if empty) and writing
// it with mode 0600 if the file does not exist. Several processes may race
// to create it; all end up with the same key. A key file readable by group
// or others is refused.
func LoadOrCreateKey(path, name string) (*Signer, error) {
	if name == "" {
		name = DefaultKeyName
	}
	s, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, fmt.Errorf("generate checkpoint key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".audit-key-*")
	if err != nil {
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	if _, err := tmp.WriteString(skey + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	// Link fails if another process created the key first; then use theirs.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("write checkpoint key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new directory entry durable; best effort
		d.Close()
	}
	return loadKey(path)
}

// LoadKey returns the signer whose private key is in the file at path,
// without creating one. A key file readable by group or others is refused.
func LoadKey(path string) (*Signer, error) { return loadKey(path) }

func loadKey(path string) (*Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("checkpoint key %s has mode %#o; it must be readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint key: %w", err)
	}
	s, err := NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// PublicKey returns the note verifier key ("name+hash+key") that checks
// this signer's checkpoints: what `vargate verify --public-key` takes.
func (s *Signer) PublicKey() string { return s.publicKey }

// Verifier returns the verifier for this signer's checkpoints.
func (s *Signer) Verifier() *Verifier { return s.verifier }

// Origin returns the checkpoint origin of tenantID's log.
func (s *Signer) Origin(tenantID string) string { return s.signer.Name() + "/" + tenantID }

// SignCheckpoint returns the signed note stating that tenantID's tree of
// size leaves has the given root, in the C2SP tlog-checkpoint form:
//
//	<origin>
//	<size, decimal>
//	<root, base64>
//
//	— <key name> <base64 signature>
func (s *Signer) SignCheckpoint(tenantID string, size int64, root Hash) (string, error) {
	text := fmt.Sprintf("%s\n%d\n%s\n", s.Origin(tenantID), size, base64.StdEncoding.EncodeToString(root[:]))
	b, err := note.Sign(&note.Note{Text: text}, s.signer)
	if err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	return string(b), nil
}

// Verifier checks checkpoints against one public key.
type Verifier struct {
	v   note.Verifier
	key string
}

// NewVerifier returns a verifier for a note verifier key ("name+hash+key").
func NewVerifier(publicKey string) (*Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(publicKey))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return &Verifier{v: v, key: strings.TrimSpace(publicKey)}, nil
}

// PublicKey returns the key the verifier checks against.
func (v *Verifier) PublicKey() string { return v.key }

// Name returns the key's name: checkpoint origins are Name()+"/"+tenant ID.
func (v *Verifier) Name() string { return v.v.Name() }

// CheckpointBody is the signed content of a checkpoint.
type CheckpointBody struct {
	Origin string
	Size   int64
	Root   Hash
}

// Open checks the signature on a checkpoint of tenantID's log and returns
// what it states. The origin must be the key's name followed by
// "/tenantID", so a checkpoint of one tenant cannot vouch for another's.
func (v *Verifier) Open(tenantID, signed string) (CheckpointBody, error) {
	n, err := note.Open([]byte(signed), note.VerifierList(v.v))
	if err != nil {
		return CheckpointBody{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return CheckpointBody{}, errors.New("checkpoint: fewer than three lines")
	}
	var body CheckpointBody
	body.Origin = lines[0]
	if want := v.v.Name() + "/" + tenantID; body.Origin != want {
		return CheckpointBody{}, fmt.Errorf("checkpoint origin %q, want %q", body.Origin, want)
	}
	body.Size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || body.Size < 0 || strconv.FormatInt(body.Size, 10) != lines[1] {
		return CheckpointBody{}, fmt.Errorf("checkpoint tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(body.Root) {
		return CheckpointBody{}, fmt.Errorf("checkpoint root %q", lines[2])
	}
	copy(body.Root[:], root)
	return body, nil
}
