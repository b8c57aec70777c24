package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"metsentry/runtime/trust"
)

// FirmwarePath is where the daemon binary sits in a bundle and in a slot.
const FirmwarePath = "bin/metsentryd"

// ModelDir is the folder of a bundle (and a slot) holding the models.
const ModelDir = "models"

// Spec says what goes into a bundle.
type Spec struct {
	// Version is the release's version (letters, digits and .+_~-).
	Version string
	// Firmware is the daemon binary to ship (bin/metsentryd in the bundle).
	Firmware string
	// Models are signed model manifests, preferred first. Each goes into
	// models/ with its model file, signature and reference files.
	Models []string
	// ModelStore holds the keys the models must be signed with: Build
	// refuses a model that does not verify, so a bundle never carries one
	// the appliance would refuse.
	ModelStore *trust.Store
}

type source struct {
	File
	data []byte // in memory (models, manifests), or
	src  string // a path to stream from (the firmware)
}

// Build writes the bundle for spec to out, signed with key: the first line,
// the signature block, then the payload (gzip tar: bundle.json, then the
// files). The file is written beside out and renamed into place.
func Build(spec Spec, key ed25519.PrivateKey, out string) (*Manifest, error) {
	if !reVersion.MatchString(spec.Version) {
		return nil, fmt.Errorf("bundle: version %q: expected 1 to 64 letters, digits and .+_~-", spec.Version)
	}
	if len(spec.Models) == 0 {
		return nil, fmt.Errorf("bundle: no model given (a bundle carries the firmware and its models)")
	}
	m := &Manifest{Format: ManifestFormat, Version: spec.Version, Firmware: FirmwarePath}
	fw, err := hashFile(spec.Firmware)
	if err != nil {
		return nil, err
	}
	srcs := []source{{File: File{Path: FirmwarePath, Size: fw.Size, SHA256: fw.SHA256, Executable: true}, src: spec.Firmware}}
	for _, mp := range spec.Models {
		v, err := trust.Verify(mp, spec.ModelStore)
		if err != nil {
			return nil, fmt.Errorf("bundle: model %s: %w (only models the appliance would load go into a bundle)", mp, err)
		}
		mf := path.Join(ModelDir, filepath.Base(mp))
		m.Models = append(m.Models, Model{Manifest: mf, Name: v.Manifest.Name, Version: v.Manifest.Version, Precision: v.Manifest.Precision})
		files := map[string][]byte{filepath.Base(mp): nil, filepath.Base(mp) + trust.SigSuffix: nil, v.Manifest.File: v.Model}
		for n, b := range v.Files {
			files[n] = b
		}
		for _, n := range sortedKeys(files) {
			b := files[n]
			if b == nil {
				if b, err = os.ReadFile(filepath.Join(filepath.Dir(mp), n)); err != nil {
					return nil, fmt.Errorf("bundle: %w", err)
				}
			}
			p := path.Join(ModelDir, n)
			if dup(srcs, p) {
				continue // a file two manifests share (none today)
			}
			h := sha256.Sum256(b)
			srcs = append(srcs, source{File: File{Path: p, Size: int64(len(b)), SHA256: hex.EncodeToString(h[:])}, data: b})
		}
	}
	for _, s := range srcs {
		m.Files = append(m.Files, s.File)
	}
	mb, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if _, err := ParseManifest(mb); err != nil {
		return nil, fmt.Errorf("bundle: the manifest built for %s breaks a limit: %w", spec.Version, err)
	}

	dir := filepath.Dir(out)
	payload, err := os.CreateTemp(dir, ".payload-*")
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer os.Remove(payload.Name())
	defer payload.Close()
	h := sha256.New()
	if err := writePayload(io.MultiWriter(payload, h), mb, srcs); err != nil {
		return nil, err
	}
	size, err := payload.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	sig := Signature{
		Format: SigFormat, KeyID: trust.KeyID(key.Public().(ed25519.PublicKey)), PayloadSHA256: sum, PayloadSize: size,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, Message(sum, size))),
	}
	sl, err := json.Marshal(sig)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if _, err := payload.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	head := append([]byte(Magic+"\n"), append(sl, '\n')...)
	if err := writeAtomic(out, io.MultiReader(bytes.NewReader(head), payload), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

func dup(srcs []source, p string) bool {
	for _, s := range srcs {
		if s.Path == p {
			return true
		}
	}
	return false
}

// writePayload writes the gzip tar: the manifest, then the files in the
// manifest's order, with fixed headers so the same input gives the same
// bytes.
func writePayload(w io.Writer, mb []byte, srcs []source) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	hdr := func(name string, size int64, mode int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: mode, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(ManifestName, int64(len(mb)), 0o644)); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if _, err := tw.Write(mb); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, s := range srcs {
		mode := int64(0o644)
		if s.Executable {
			mode = 0o755
		}
		if err := tw.WriteHeader(hdr(s.Path, s.Size, mode)); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		var r io.Reader = bytes.NewReader(s.data)
		if s.data == nil {
			f, err := os.Open(s.src)
			if err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			defer f.Close()
			r = f
		}
		h := sha256.New()
		n, err := io.Copy(tw, io.TeeReader(r, h))
		if err != nil {
			return fmt.Errorf("bundle: %s: %w", s.Path, err)
		}
		if n != s.Size || hex.EncodeToString(h.Sum(nil)) != s.SHA256 {
			return fmt.Errorf("bundle: %s changed while the bundle was built; build it again", s.Path)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, fmt.Errorf("bundle: firmware: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("bundle: firmware: %w", err)
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
