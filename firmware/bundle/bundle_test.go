package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/bundle"
	"metsentry/firmware/bundle/bundletest"
	"metsentry/runtime/trust"
)

var firmware = []byte("#!/bin/sh\necho metsentryd test firmware\n")

func TestBuildOpenExtract(t *testing.T) {
	v := bundletest.NewVendor(t, "vendor")
	model := v.Model(t)
	path := v.Build(t, "1.2.3", firmware, model)
	b, err := bundle.Open(path, v.Store)
	if err != nil {
		t.Fatal(err)
	}
	m := b.Manifest
	if m.Version != "1.2.3" || m.Firmware != bundle.FirmwarePath || b.KeyID != v.KeyID {
		t.Fatalf("manifest %+v, key %s", m, b.KeyID)
	}
	if len(m.Models) != 1 || m.Models[0] != (bundle.Model{Manifest: "models/unet_tiny-fp32.manifest.json", Name: "unet_tiny", Version: "0.0.0-test", Precision: "fp32"}) {
		t.Fatalf("models %+v", m.Models)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	want := "bin/metsentryd models/unet_tiny-fp32.manifest.json models/unet_tiny-fp32.manifest.json.sig models/unet_tiny-fp32.onnx models/unet_tiny-ref-in.f32 models/unet_tiny-ref-out.f32"
	if strings.Join(paths, " ") != want {
		t.Fatalf("files %v, want %s", paths, want)
	}
	dir := filepath.Join(t.TempDir(), "slot")
	if err := b.Extract(dir); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, src string }{
		{"bin/metsentryd", ""},
		{"models/unet_tiny-fp32.onnx", filepath.Join(filepath.Dir(model), "unet_tiny-fp32.onnx")},
		{"models/unet_tiny-fp32.manifest.json.sig", model + ".sig"},
	} {
		got, err := os.ReadFile(filepath.Join(dir, c.got))
		if err != nil {
			t.Fatal(err)
		}
		want := firmware
		if c.src != "" {
			if want, err = os.ReadFile(c.src); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its source", c.got)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/metsentryd")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("firmware mode %v, %v; want 0755", fi.Mode(), err)
	}
	// The extracted models verify where they landed.
	if _, err := trust.Verify(filepath.Join(dir, "models/unet_tiny-fp32.manifest.json"), v.Store); err != nil {
		t.Fatalf("extracted model: %v", err)
	}
	if err := b.Extract(dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("Extract over an existing folder: %v", err)
	}
	// The same input gives the same bytes (fixed tar headers).
	again := v.Build(t, "1.2.3", firmware, model)
	if a, b := read(t, path), read(t, again); !bytes.Equal(a, b) {
		t.Fatal("two builds of the same input differ")
	}
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRefusesUntrusted(t *testing.T) {
	v := bundletest.NewVendor(t, "vendor")
	other := bundletest.NewVendor(t, "other")
	path := other.Build(t, "9.9.9", firmware, other.Model(t))
	tests := []struct {
		name  string
		store *trust.Store
		want  []string
	}{
		{"key not in the store", v.Store, []string{"signed by a key that is not trusted", "key " + other.KeyID + " is not in the trust store", "trusted: " + v.KeyID}},
		{"empty store", trust.NewStore(), []string{"signed by a key that is not trusted", "the trust store holds no public keys"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Open(path, tc.store)
			if !errors.Is(err, bundle.ErrUntrusted) {
				t.Fatalf("Open = %v, want ErrUntrusted", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
		})
	}
}

// Every byte of a bundle is covered: changing any one is refused, and the
// error names the part that failed.
func TestOpenRefusesAnyChangedByte(t *testing.T) {
	v := bundletest.NewVendor(t, "vendor")
	orig := read(t, v.Build(t, "1.0.0", firmware, v.Model(t)))
	nl := bytes.IndexByte(orig, '\n')
	sigEnd := nl + 1 + bytes.IndexByte(orig[nl+1:], '\n')
	var offsets []int
	for i := range orig {
		// every byte of the two header lines and the payload's first and
		// last 64 (gzip header and trailer), every 499th elsewhere: the
		// payload is one digest, so a sample shows it is all covered
		if i <= sigEnd+64 || i >= len(orig)-64 || i%499 == 0 {
			offsets = append(offsets, i)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "x.bundle")
	for _, off := range offsets {
		for _, x := range []byte{0x01, 0x80} {
			b := append([]byte(nil), orig...)
			b[off] ^= x
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := bundle.Open(p, v.Store)
			var want []error
			switch {
			case off <= nl:
				want = []error{bundle.ErrNotBundle}
			case off <= sigEnd:
				// the signature block: its form, its key id, or the
				// signature itself (a digest changed in the block no
				// longer matches what was signed)
				want = []error{bundle.ErrMalformed, bundle.ErrUntrusted, bundle.ErrSignature}
			default:
				want = []error{bundle.ErrAltered}
			}
			ok := false
			for _, w := range want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("byte %d ^ %#x: Open = %v, want one of %v", off, x, err, want)
			}
		}
	}
	t.Logf("%d offsets of %d bytes changed, each refused", len(offsets), len(orig))
	// Cut short, or with a byte appended.
	for name, b := range map[string][]byte{"truncated": orig[:len(orig)-1], "appended": append(append([]byte(nil), orig...), 0)} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Open(p, v.Store); !errors.Is(err, bundle.ErrAltered) {
			t.Fatalf("%s: Open = %v, want ErrAltered", name, err)
		}
	}
}

type entry struct {
	name string
	data []byte
	typ  byte
}

// signed writes a bundle whose payload is the given tar entries, validly
// signed by key: what a vendor key holder could make, and Open must still
// refuse when its content is wrong.
func signed(t *testing.T, key ed25519.PrivateKey, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Size: int64(len(e.data)), Mode: 0o644, Typeflag: typ}
		if typ != tar.TypeReg {
			h.Size = 0
			h.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	hs := hex.EncodeToString(sum[:])
	sig := bundle.Signature{Format: bundle.SigFormat, KeyID: trust.KeyID(key.Public().(ed25519.PublicKey)), PayloadSHA256: hs, PayloadSize: int64(buf.Len()),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, bundle.Message(hs, int64(buf.Len()))))}
	sl, _ := json.Marshal(sig)
	p := filepath.Join(t.TempDir(), "x.bundle")
	if err := os.WriteFile(p, append([]byte(bundle.Magic+"\n"+string(sl)+"\n"), buf.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func manifestFor(files ...bundle.File) []byte {
	m := bundle.Manifest{Format: bundle.ManifestFormat, Version: "1.0.0", Firmware: files[0].Path, Files: files}
	b, _ := json.Marshal(m)
	return b
}

func file(p string, data []byte) bundle.File {
	s := sha256.Sum256(data)
	return bundle.File{Path: p, Size: int64(len(data)), SHA256: hex.EncodeToString(s[:])}
}

// A validly signed bundle with wrong content is refused too: the manifest
// is checked against the payload, and paths must stay inside the slot.
func TestOpenRefusesSignedButWrong(t *testing.T) {
	v := bundletest.NewVendor(t, "vendor")
	fw := []byte("firmware")
	ok := file("bin/metsentryd", fw)
	tests := []struct {
		name    string
		entries []entry
		want    error
		says    string
	}{
		{"well formed", []entry{{name: "bundle.json", data: manifestFor(ok)}, {name: "bin/metsentryd", data: fw}}, nil, ""},
		{"file differs from its manifest entry", []entry{{name: "bundle.json", data: manifestFor(ok)}, {name: "bin/metsentryd", data: []byte("firmwarX")}}, bundle.ErrAltered, "bin/metsentryd hashes to"},
		{"file size differs", []entry{{name: "bundle.json", data: manifestFor(ok)}, {name: "bin/metsentryd", data: []byte("firmware!")}}, bundle.ErrAltered, "bin/metsentryd is 9 bytes, the manifest says 8"},
		{"path leaves the slot", []entry{{name: "bundle.json", data: manifestFor(file("../etc/cron.d/x", fw))}, {name: "../etc/cron.d/x", data: fw}}, bundle.ErrMalformed, "manifest file path \"../etc/cron.d/x\""},
		{"absolute path", []entry{{name: "bundle.json", data: manifestFor(file("/etc/passwd", fw))}, {name: "/etc/passwd", data: fw}}, bundle.ErrMalformed, "manifest file path"},
		{"symlink entry", []entry{{name: "bundle.json", data: manifestFor(ok)}, {name: "bin/metsentryd", typ: tar.TypeSymlink}}, bundle.ErrMalformed, "payload entry \"bin/metsentryd\""},
		{"entry the manifest does not list", []entry{{name: "bundle.json", data: manifestFor(ok)}, {name: "bin/metsentryd", data: fw}, {name: "bin/extra", data: fw}}, bundle.ErrMalformed, "payload holds \"bin/extra\""},
		{"file missing", []entry{{name: "bundle.json", data: manifestFor(ok, file("models/m.onnx", fw))}, {name: "bin/metsentryd", data: fw}}, bundle.ErrMalformed, "payload ends before models/m.onnx"},
		{"manifest not first", []entry{{name: "bin/metsentryd", data: fw}, {name: "bundle.json", data: manifestFor(ok)}}, bundle.ErrMalformed, "first entry must be bundle.json"},
		{"unknown manifest field", []entry{{name: "bundle.json", data: []byte(`{"format":"metsentry-bundle-manifest-v1","hook":"rm -rf /"}`)}}, bundle.ErrMalformed, "unknown field"},
		{"firmware not among the files", []entry{{name: "bundle.json", data: func() []byte {
			b, _ := json.Marshal(bundle.Manifest{Format: bundle.ManifestFormat, Version: "1", Firmware: "bin/other", Files: []bundle.File{ok}})
			return b
		}()}, {name: "bin/metsentryd", data: fw}}, bundle.ErrMalformed, "firmware \"bin/other\" is not among its files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Open(signed(t, v.Key, tc.entries), v.Store)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Open = %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

func TestExtractRefusesReplacedBundle(t *testing.T) {
	v := bundletest.NewVendor(t, "vendor")
	model := v.Model(t)
	path := v.Build(t, "1.0.0", firmware, model)
	b, err := bundle.Open(path, v.Store)
	if err != nil {
		t.Fatal(err)
	}
	// Replaced after Open by another validly signed bundle.
	other := read(t, v.Build(t, "1.0.1", []byte("#!/bin/sh\nexit 0\n"), model))
	if err := os.WriteFile(path, other, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "slot")
	if err := b.Extract(dir); !errors.Is(err, bundle.ErrAltered) {
		t.Fatalf("Extract = %v, want ErrAltered", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused extract left %s behind", dir)
	}
}

func TestBuildRefusesModelsTheApplianceWouldRefuse(t *testing.T) {
	v := bundletest.NewVendor(t, "vendor")
	other := bundletest.NewVendor(t, "other")
	fw := filepath.Join(t.TempDir(), "metsentryd")
	if err := os.WriteFile(fw, firmware, 0o755); err != nil {
		t.Fatal(err)
	}
	changed := v.Model(t)
	onnx := filepath.Join(filepath.Dir(changed), "unet_tiny-fp32.onnx")
	b := read(t, onnx)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(onnx, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		model string
		want  error
	}{
		{"model signed by a key the store lacks", other.Model(t), trust.ErrUntrustedKey},
		{"model file changed after signing", changed, trust.ErrDigestMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.bundle")
			_, err := bundle.Build(bundle.Spec{Version: "1.0.0", Firmware: fw, Models: []string{tc.model}, ModelStore: v.Store}, v.Key, out)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Build = %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a refused build left a bundle")
			}
		})
	}
}
