package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"metsentry/runtime/trust"
)

// Magic is the bundle's first line, SigFormat its signature's format and
// the first line of the message it signs, ManifestFormat the format of the
// manifest inside.
const (
	Magic          = "metsentry-bundle-v1"
	SigFormat      = "metsentry-bundle-sig-v1"
	ManifestFormat = "metsentry-bundle-manifest-v1"
	// ManifestName is the payload's first entry.
	ManifestName = "bundle.json"
)

// Limits on what a bundle may hold, checked before anything is allocated or
// written (CONVENTIONS.md 15).
const (
	MaxFiles        = 64
	MaxFileBytes    = 1 << 30 // one file
	MaxPayloadBytes = 2 << 30 // the whole payload, compressed or not
	maxManifest     = 1 << 20
	maxSigLine      = 4 << 10
)

// Errors Open and Extract return, wrapped with what failed and what to do.
var (
	// ErrNotBundle: the file does not start with Magic.
	ErrNotBundle = errors.New("bundle: not a metsentry update bundle")
	// ErrMalformed: the signature block, the manifest or the payload's
	// layout cannot be read, or breaks a limit.
	ErrMalformed = errors.New("bundle: malformed")
	// ErrUntrusted: the signature is by a key the trust store lacks.
	ErrUntrusted = errors.New("bundle: signed by a key that is not trusted")
	// ErrSignature: the signature does not verify over the signed digest.
	ErrSignature = errors.New("bundle: signature does not verify")
	// ErrAltered: the payload or a file in it differs from what was signed.
	ErrAltered = errors.New("bundle: changed after signing")
)

// Signature is the bundle's second line.
type Signature struct {
	Format        string `json:"format"`
	KeyID         string `json:"key_id"`
	PayloadSHA256 string `json:"payload_sha256"`
	PayloadSize   int64  `json:"payload_size"`
	Signature     string `json:"signature"`
}

// Message is what a signature signs: the format, the payload's sha256 and
// size.
func Message(payloadSHA256 string, size int64) []byte {
	return []byte(SigFormat + "\n" + payloadSHA256 + "\n" + strconv.FormatInt(size, 10) + "\n")
}

// Manifest lists a bundle's content: versions and every file's sha256.
type Manifest struct {
	Format string `json:"format"`
	// Version is the bundle's (the firmware release's) version.
	Version string `json:"version"`
	// Firmware is the path of the daemon binary among Files.
	Firmware string `json:"firmware"`
	// Models are the signed models among Files, preferred first.
	Models []Model `json:"models"`
	Files  []File  `json:"files"`
}

// Model is a model a bundle carries: its manifest's path among Files and
// what that manifest says.
type Model struct {
	Manifest  string `json:"manifest"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Precision string `json:"precision"`
}

// File is one file of a bundle.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Executable marks the firmware binary (mode 0755, else 0644).
	Executable bool `json:"executable,omitempty"`
}

var (
	reKeyID   = regexp.MustCompile(`^[0-9a-f]{16}$`)
	reSHA     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,63}$`)
)

// cleanPath reports whether p is a relative slash path inside the slot:
// no "..", no absolute path, no empty element, nothing hidden.
func cleanPath(p string) bool {
	if p == "" || len(p) > 255 || path.IsAbs(p) || path.Clean(p) != p || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." || e == "." || strings.HasPrefix(e, ".") {
			return false
		}
	}
	return true
}

// ParseManifest decodes and checks a bundle manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: manifest: trailing data after the JSON object", ErrMalformed)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%w: manifest format %q, expected %q", ErrMalformed, m.Format, ManifestFormat)
	}
	if !reVersion.MatchString(m.Version) {
		return nil, fmt.Errorf("%w: manifest version %q (expected 1 to 64 letters, digits and .+_~-)", ErrMalformed, m.Version)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return nil, fmt.Errorf("%w: manifest lists %d files (expected 1 to %d)", ErrMalformed, len(m.Files), MaxFiles)
	}
	seen := map[string]bool{}
	var total int64
	for _, f := range m.Files {
		if !cleanPath(f.Path) || f.Path == ManifestName {
			return nil, fmt.Errorf("%w: manifest file path %q (expected a relative path without . or .. elements)", ErrMalformed, f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("%w: manifest lists %s twice", ErrMalformed, f.Path)
		}
		seen[f.Path] = true
		if !reSHA.MatchString(f.SHA256) || f.Size < 0 || f.Size > MaxFileBytes {
			return nil, fmt.Errorf("%w: manifest entry %s: size %d (at most %d) or sha256 %q (64 lower-case hex digits)", ErrMalformed, f.Path, f.Size, int64(MaxFileBytes), f.SHA256)
		}
		total += f.Size
	}
	if total > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: manifest files hold %d bytes (at most %d)", ErrMalformed, total, int64(MaxPayloadBytes))
	}
	if !seen[m.Firmware] {
		return nil, fmt.Errorf("%w: manifest firmware %q is not among its files", ErrMalformed, m.Firmware)
	}
	for _, md := range m.Models {
		if !seen[md.Manifest] {
			return nil, fmt.Errorf("%w: manifest model %q is not among its files", ErrMalformed, md.Manifest)
		}
	}
	return &m, nil
}

// Bundle is a bundle whose signature, payload and every file passed Open.
type Bundle struct {
	Path     string
	Manifest *Manifest
	// KeyID is the key that signed it.
	KeyID string
	sig   Signature
	// manifest holds the manifest's bytes as verified.
	manifest []byte
	// offset is where the payload starts in the file.
	offset int64
}

// Open reads the bundle at path and checks, in this order, and refuses at
// the first failure, naming it: the first line (ErrNotBundle); the
// signature block (ErrMalformed); its key against the trust store
// (ErrUntrusted); the signature over the payload's digest (ErrSignature);
// the payload's sha256 and size against the signed ones (ErrAltered); then
// the payload's layout and each file's size and sha256 against the manifest
// (ErrAltered, ErrMalformed). Every byte of the file is covered: the first
// line must be exact, the signature block verifies, the payload hashes.
func Open(bundlePath string, store *trust.Store) (*Bundle, error) {
	f, err := os.Open(bundlePath)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	b := &Bundle{Path: bundlePath}
	br := bufio.NewReader(f)
	magic, err := readLine(br, len(Magic)+1)
	if err != nil || magic != Magic {
		return nil, fmt.Errorf("%w: %s does not start with the line %q (is it a bundle built by tools/bundle?)", ErrNotBundle, bundlePath, Magic)
	}
	line, err := readLine(br, maxSigLine)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: signature block: %v", ErrMalformed, bundlePath, err)
	}
	if err := parseSignature(bundlePath, []byte(line), &b.sig); err != nil {
		return nil, err
	}
	b.KeyID = b.sig.KeyID
	b.offset = int64(len(magic) + 1 + len(line) + 1)
	raw, _ := base64.StdEncoding.DecodeString(b.sig.Signature)
	if err := store.VerifyMessage(b.sig.KeyID, Message(b.sig.PayloadSHA256, b.sig.PayloadSize), raw); err != nil {
		switch {
		case errors.Is(err, trust.ErrNoKeys):
			return nil, fmt.Errorf("%w: %s: the trust store holds no public keys (install the vendor's key in it)", ErrUntrusted, bundlePath)
		case errors.Is(err, trust.ErrUntrustedKey):
			return nil, fmt.Errorf("%w: %s: key %s is not in the trust store (trusted: %s); install a bundle signed with a trusted key, or add the vendor's key to the trust store",
				ErrUntrusted, bundlePath, b.sig.KeyID, strings.Join(store.IDs(), ", "))
		default:
			return nil, fmt.Errorf("%w: %s: the signature by key %s does not match the signed digest (the signature block was changed after signing)", ErrSignature, bundlePath, b.sig.KeyID)
		}
	}
	// The payload: its digest first, so nothing unsigned is parsed.
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(br, MaxPayloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: reading the payload: %w", bundlePath, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != b.sig.PayloadSize || got != b.sig.PayloadSHA256 {
		return nil, fmt.Errorf("%w: %s: the payload (%d bytes from byte %d) hashes to %s, signed as %d bytes with sha256 %s (the file was changed or damaged after signing; copy it again from the release)",
			ErrAltered, bundlePath, n, b.offset, got, b.sig.PayloadSize, b.sig.PayloadSHA256)
	}
	if _, err := f.Seek(b.offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	m, mb, err := walk(bundlePath, f, nil, func(File, io.Reader) error { return nil })
	if err != nil {
		return nil, err
	}
	b.Manifest, b.manifest = m, mb
	return b, nil
}

func parseSignature(where string, line []byte, s *Signature) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return fmt.Errorf("%w: %s: signature block: %v", ErrMalformed, where, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: signature block: trailing data after the JSON object", ErrMalformed, where)
	}
	if s.Format != SigFormat {
		return fmt.Errorf("%w: %s: signature format %q, expected %q", ErrMalformed, where, s.Format, SigFormat)
	}
	if !reKeyID.MatchString(s.KeyID) || !reSHA.MatchString(s.PayloadSHA256) || s.PayloadSize <= 0 || s.PayloadSize > MaxPayloadBytes {
		return fmt.Errorf("%w: %s: signature block: key_id (16 hex digits), payload_sha256 (64) or payload_size (1 to %d) out of form", ErrMalformed, where, int64(MaxPayloadBytes))
	}
	if raw, err := base64.StdEncoding.DecodeString(s.Signature); err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s: signature is not base64 of %d bytes", ErrMalformed, where, ed25519.SignatureSize)
	}
	return nil
}

// readLine reads one "\n"-terminated line of at most limit bytes.
func readLine(r *bufio.Reader, limit int) (string, error) {
	var b []byte
	for len(b) <= limit {
		c, err := r.ReadByte()
		if err != nil {
			return "", fmt.Errorf("no end of line: %w", err)
		}
		if c == '\n' {
			return string(b), nil
		}
		b = append(b, c)
	}
	return "", fmt.Errorf("line longer than %d bytes", limit)
}

// walk reads the payload (gzip, tar): the manifest first, then exactly the
// files it lists in its order, each regular, of its size and sha256; file is
// called with each file's content as it streams. want, when not nil, is the
// manifest already verified: the payload's must be byte for byte the same.
func walk(where string, r io.Reader, want []byte, file func(File, io.Reader) error) (*Manifest, []byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: payload is not gzip: %v", ErrMalformed, where, err)
	}
	zr.Multistream(false)
	tr := tar.NewReader(io.LimitReader(zr, MaxPayloadBytes))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifest {
		return nil, nil, fmt.Errorf("%w: %s: the payload's first entry must be %s, a file of at most %d bytes", ErrMalformed, where, ManifestName, maxManifest)
	}
	mb, err := io.ReadAll(tr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %s: %v", ErrMalformed, where, ManifestName, err)
	}
	if want != nil && !bytes.Equal(mb, want) {
		return nil, nil, fmt.Errorf("%w: %s: %s differs from the one verified (the bundle was replaced while in use)", ErrAltered, where, ManifestName)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (in %s)", err, where)
	}
	for _, f := range m.Files {
		hdr, err := tr.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: payload ends before %s, which the manifest lists: %v", ErrMalformed, where, f.Path, err)
		}
		if hdr.Name != f.Path || hdr.Typeflag != tar.TypeReg {
			return nil, nil, fmt.Errorf("%w: %s: payload entry %q where the manifest lists the file %s next", ErrMalformed, where, hdr.Name, f.Path)
		}
		if hdr.Size != f.Size {
			return nil, nil, fmt.Errorf("%w: %s: %s is %d bytes, the manifest says %d", ErrAltered, where, f.Path, hdr.Size, f.Size)
		}
		h := sha256.New()
		content := io.TeeReader(io.LimitReader(tr, f.Size), h)
		if err := file(f, content); err != nil {
			return nil, nil, err
		}
		// Whatever file left unread is hashed too.
		if _, err := io.Copy(io.Discard, content); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %s: %v", ErrMalformed, where, f.Path, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
			return nil, nil, fmt.Errorf("%w: %s: %s hashes to %s, the manifest says %s", ErrAltered, where, f.Path, got, f.SHA256)
		}
	}
	if hdr, err := tr.Next(); err != io.EOF {
		name := ""
		if hdr != nil {
			name = hdr.Name
		}
		return nil, nil, fmt.Errorf("%w: %s: payload holds %q after the files the manifest lists (%v)", ErrMalformed, where, name, err)
	}
	// Nothing may follow the archive but its gzip trailer.
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, 1<<20)); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: payload: %v", ErrMalformed, where, err)
	}
	return m, mb, nil
}
