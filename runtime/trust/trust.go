package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"metsentry/runtime/manifest"
)

// Format names the signature file format and prefixes the signed message.
const Format = "metsentry-model-sig-v1"

// SigSuffix is appended to the manifest's file name to name its signature.
const SigSuffix = ".sig"

const (
	pubPrefix  = "metsentry-ed25519"
	privPrefix = "metsentry-ed25519-private"
)

// Errors Verify returns (wrapped, with the file and what to do).
var (
	// ErrUnsigned: the manifest has no signature file beside it.
	ErrUnsigned = errors.New("trust: model is not signed")
	// ErrUntrustedKey: the signature names a key that is not in the trust store.
	ErrUntrustedKey = errors.New("trust: signed by a key that is not trusted")
	// ErrBadSignature: the signature does not verify over these files.
	ErrBadSignature = errors.New("trust: signature does not match")
	// ErrDigestMismatch: the model file does not hash to the manifest's sha256.
	ErrDigestMismatch = errors.New("trust: model file does not match its manifest")
	// ErrNoKeys: the trust store holds no keys, so nothing can be verified.
	ErrNoKeys = errors.New("trust: trust store holds no public keys")
	// ErrMalformed: a signature or key file cannot be read.
	ErrMalformed = errors.New("trust: malformed file")
)

// Signature is the content of a .sig file.
type Signature struct {
	Format         string `json:"format"`
	KeyID          string `json:"key_id"`
	ManifestSHA256 string `json:"manifest_sha256"`
	ModelSHA256    string `json:"model_sha256"`
	// Files holds the sha256 of the other files the manifest names (the
	// self-test reference input and output), by file name.
	Files     map[string]string `json:"files,omitempty"`
	Signature string            `json:"signature"`
}

var (
	reKeyID = regexp.MustCompile(`^[0-9a-f]{16}$`)
	reSHA   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseSignature decodes and checks a signature file.
func ParseSignature(data []byte) (*Signature, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Signature
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: signature: trailing data after the JSON object", ErrMalformed)
	}
	if s.Format != Format {
		return nil, fmt.Errorf("%w: signature format %q, expected %q", ErrMalformed, s.Format, Format)
	}
	if !reKeyID.MatchString(s.KeyID) {
		return nil, fmt.Errorf("%w: signature key_id %q is not 16 lower-case hex digits", ErrMalformed, s.KeyID)
	}
	if !reSHA.MatchString(s.ManifestSHA256) || !reSHA.MatchString(s.ModelSHA256) {
		return nil, fmt.Errorf("%w: signature digests must be 64 lower-case hex digits", ErrMalformed)
	}
	for name, h := range s.Files {
		if !bareName(name) || !reSHA.MatchString(h) {
			return nil, fmt.Errorf("%w: signature files entry %q: expected a bare file name and 64 lower-case hex digits", ErrMalformed, name)
		}
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not base64 of %d bytes", ErrMalformed, ed25519.SignatureSize)
	}
	return &s, nil
}

// Message returns the bytes a signature covers: the format line, the two
// digests, then one "name sha256" line per other file, sorted by name.
func Message(manifestSHA256, modelSHA256 string, files map[string]string) []byte {
	var b strings.Builder
	b.WriteString(Format + "\n" + manifestSHA256 + "\n" + modelSHA256 + "\n")
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(n + " " + files[n] + "\n")
	}
	return []byte(b.String())
}

func bareName(n string) bool {
	return n != "" && n != "." && n != ".." && n == filepath.Base(n) && !strings.ContainsAny(n, `/\`)
}

// KeyID returns a public key's id: the first 16 hex digits of its sha256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Store is a set of trusted public keys by id.
type Store struct {
	keys map[string]ed25519.PublicKey
}

// NewStore returns a store holding keys.
func NewStore(keys ...ed25519.PublicKey) *Store {
	s := &Store{keys: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		s.keys[KeyID(k)] = k
	}
	return s
}

// IDs returns the ids of the keys in the store, sorted.
func (s *Store) IDs() []string {
	var ids []string
	for id := range s.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LoadStore reads every *.pub file in dir. A malformed key file is an error:
// a trust store is installed on purpose and should hold nothing stray.
func LoadStore(dir string) (*Store, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("trust: trust store folder: %w", err)
	}
	s := NewStore()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		k, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		s.keys[KeyID(k)] = k
	}
	return s, nil
}

// ParsePublicKey decodes a .pub file.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, err := parseKeyLine(data, pubPrefix, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey decodes a private key file.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	seed, err := parseKeyLine(data, privPrefix, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func parseKeyLine(data []byte, prefix string, size int) ([]byte, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != prefix {
		return nil, fmt.Errorf("%w: key file must be one line %q followed by a base64 key", ErrMalformed, prefix)
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%w: key is not base64 of %d bytes", ErrMalformed, size)
	}
	return b, nil
}

// GenerateKey makes a new signing key pair from rand and returns the
// public key file and the private key file contents.
func GenerateKey(rand io.Reader, comment string) (pubFile, privFile []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("trust: generate key: %w", err)
	}
	comment = strings.Join(strings.Fields(comment), "_")
	pubFile = []byte(strings.TrimSpace(pubPrefix+" "+base64.StdEncoding.EncodeToString(pub)+" "+comment) + "\n")
	privFile = []byte(privPrefix + " " + base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
	return pubFile, privFile, nil
}

// Sign signs the manifest at manifestPath and the model it names, and
// writes the signature beside the manifest. The manifest must be valid and the
// model must match its sha256: a signer never vouches for a broken pair.
func Sign(manifestPath string, key ed25519.PrivateKey) error {
	mb, m, model, err := readPair(manifestPath)
	if err != nil {
		return err
	}
	if got := sha256Hex(model); got != m.SHA256 {
		return fmt.Errorf("%w: %s hashes to %s, the manifest says %s (update the manifest before signing)", ErrDigestMismatch, m.File, got, m.SHA256)
	}
	ms := sha256Hex(mb)
	files, err := readOthers(manifestPath, m)
	if err != nil {
		return err
	}
	sums := map[string]string{}
	for n, b := range files {
		sums[n] = sha256Hex(b)
	}
	if len(sums) == 0 {
		sums = nil
	}
	pub := key.Public().(ed25519.PublicKey)
	sig := Signature{
		Format: Format, KeyID: KeyID(pub), ManifestSHA256: ms, ModelSHA256: m.SHA256, Files: sums,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, Message(ms, m.SHA256, sums))),
	}
	out, err := json.MarshalIndent(sig, "", " ")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	return writeFileAtomic(manifestPath+SigSuffix, append(out, '\n'))
}

// Verified is a model that passed Verify.
type Verified struct {
	Manifest     *manifest.Manifest
	Dir          string // folder of the manifest (reference files live here)
	ManifestPath string
	Model        []byte            // the model bytes that were hashed
	Files        map[string][]byte // the other files the manifest names, as hashed
	KeyID        string            // the key that signed it
}

// Verify checks the manifest at manifestPath, the model it names and their
// signature against the store, and returns the verified model bytes.
func Verify(manifestPath string, store *Store) (*Verified, error) {
	if store == nil || len(store.keys) == 0 {
		return nil, fmt.Errorf("%w (install the vendor's key in the trust store folder)", ErrNoKeys)
	}
	mb, m, model, err := readPair(manifestPath)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(model); got != m.SHA256 {
		return nil, fmt.Errorf("%w: %s hashes to %s, the manifest says %s (the file was changed or damaged; reinstall the model bundle)", ErrDigestMismatch, m.File, got, m.SHA256)
	}
	sb, err := os.ReadFile(manifestPath + SigSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s (only signed models run; install the signed bundle)", ErrUnsigned, filepath.Base(manifestPath+SigSuffix))
	}
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	sig, err := ParseSignature(sb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", manifestPath+SigSuffix, err)
	}
	pub, ok := store.keys[sig.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: key %s (trusted: %s)", ErrUntrustedKey, sig.KeyID, strings.Join(store.IDs(), ", "))
	}
	ms := sha256Hex(mb)
	raw, _ := base64.StdEncoding.DecodeString(sig.Signature)
	if sig.ManifestSHA256 != ms || sig.ModelSHA256 != m.SHA256 || !ed25519.Verify(pub, Message(ms, m.SHA256, sig.Files), raw) {
		return nil, fmt.Errorf("%w: %s was changed after signing, or the signature is for other files", ErrBadSignature, filepath.Base(manifestPath))
	}
	files, err := readOthers(manifestPath, m)
	if err != nil {
		return nil, err
	}
	for n, b := range files {
		want, ok := sig.Files[n]
		if !ok {
			return nil, fmt.Errorf("%w: the signature does not cover %s, which the manifest names (sign the bundle again)", ErrBadSignature, n)
		}
		if got := sha256Hex(b); got != want {
			return nil, fmt.Errorf("%w: %s hashes to %s, the signature says %s (the file was changed or damaged; reinstall the model bundle)", ErrDigestMismatch, n, got, want)
		}
	}
	return &Verified{Manifest: m, Dir: filepath.Dir(manifestPath), ManifestPath: manifestPath, Model: model, Files: files, KeyID: sig.KeyID}, nil
}

// readOthers reads the files besides the model that the manifest names: the
// self-test reference input and output.
func readOthers(manifestPath string, m *manifest.Manifest) (map[string][]byte, error) {
	out := map[string][]byte{}
	if m.Reference == nil {
		return out, nil
	}
	for _, n := range []string{m.Reference.Input, m.Reference.Output} {
		if !bareName(n) {
			return nil, fmt.Errorf("trust: %s: reference file %q must be a bare file name beside the manifest", manifestPath, n)
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(manifestPath), n))
		if err != nil {
			return nil, fmt.Errorf("trust: reference file named by %s: %w", filepath.Base(manifestPath), err)
		}
		out[n] = b
	}
	return out, nil
}

// readPair reads and validates the manifest and reads the model it names.
func readPair(manifestPath string) (mb []byte, m *manifest.Manifest, model []byte, err error) {
	mb, err = os.ReadFile(manifestPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("trust: %w", err)
	}
	m, err = manifest.Parse(mb)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("trust: %s: %w", manifestPath, err)
	}
	if !bareName(m.File) {
		return nil, nil, nil, fmt.Errorf("trust: %s: file %q must be a bare file name beside the manifest", manifestPath, m.File)
	}
	model, err = os.ReadFile(filepath.Join(filepath.Dir(manifestPath), m.File))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("trust: model named by %s: %w", filepath.Base(manifestPath), err)
	}
	return mb, m, model, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// writeFileAtomic writes via a temporary file, fsync and rename, then syncs
// the folder, so a power cut leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("trust: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("trust: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// KeyGen writes a new key pair into dir as <name>.pub (for trust stores) and
// <name>.key (mode 0600, for the signing machine only) and returns the key id.
// It refuses to overwrite an existing key.
func KeyGen(rand io.Reader, dir, name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("trust: key name %q must be a plain file name", name)
	}
	pubFile, privFile, err := GenerateKey(rand, name)
	if err != nil {
		return "", err
	}
	for _, p := range []string{name + ".pub", name + ".key"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			return "", fmt.Errorf("trust: %s exists; not overwriting a key", filepath.Join(dir, p))
		}
	}
	priv, err := ParsePrivateKey(privFile)
	if err != nil {
		return "", err
	}
	keyPath := filepath.Join(dir, name+".key")
	if err := os.WriteFile(keyPath, privFile, 0o600); err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, name+".pub"), pubFile); err != nil {
		return "", err
	}
	return KeyID(priv.Public().(ed25519.PublicKey)), nil
}

// SignWithKeyFile signs manifestPath with the private key file at keyPath.
func SignWithKeyFile(manifestPath, keyPath string) error {
	k, err := LoadPrivateKey(keyPath)
	if err != nil {
		return err
	}
	return Sign(manifestPath, k)
}

// LoadPrivateKey reads a private key file written by KeyGen.
func LoadPrivateKey(keyPath string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return k, nil
}

// VerifyMessage checks that sig is the signature of the trusted key keyID
// over msg. It is the primitive other signed formats (the update bundles of
// firmware/bundle) build on, so they share the models' trust store, key ids
// and errors: ErrNoKeys, ErrUntrustedKey (naming the trusted ids) or
// ErrBadSignature.
func (s *Store) VerifyMessage(keyID string, msg, sig []byte) error {
	if s == nil || len(s.keys) == 0 {
		return fmt.Errorf("%w (install the vendor's key in the trust store folder)", ErrNoKeys)
	}
	pub, ok := s.keys[keyID]
	if !ok {
		return fmt.Errorf("%w: key %s (trusted: %s)", ErrUntrustedKey, keyID, strings.Join(s.IDs(), ", "))
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: the signature by key %s does not verify over this content", ErrBadSignature, keyID)
	}
	return nil
}
