// Package bundletest builds signed update bundles for tests: a vendor key
// in a fresh trust store, a small model signed with it (runtime/testdata's
// unet_tiny) and a firmware file of the test's choosing.
package bundletest

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/bundle"
	"metsentry/firmware/testenv"
	"metsentry/runtime/trust"
)

// Vendor is a signing key and a trust store that holds it.
type Vendor struct {
	Key      ed25519.PrivateKey
	KeyID    string
	TrustDir string
	Store    *trust.Store
}

// NewVendor makes a key pair in a fresh trust store folder.
func NewVendor(t testing.TB, name string) *Vendor {
	t.Helper()
	dir := t.TempDir()
	id, err := trust.KeyGen(rand.Reader, dir, name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := trust.LoadPrivateKey(filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	// The private key stays out of the trust store folder.
	if err := os.Rename(filepath.Join(dir, name+".key"), filepath.Join(t.TempDir(), name+".key")); err != nil {
		t.Fatal(err)
	}
	s, err := trust.LoadStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Vendor{Key: k, KeyID: id, TrustDir: dir, Store: s}
}

// Model copies runtime/testdata's unet_tiny fp32 model, its manifest and
// reference files into a fresh folder, signs it with v and returns the
// manifest's path.
func (v *Vendor) Model(t testing.TB) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(t), "runtime", "testdata")
	dir := t.TempDir()
	for _, f := range []string{"unet_tiny-fp32.onnx", "unet_tiny-fp32.manifest.json", "unet_tiny-ref-in.f32", "unet_tiny-ref-out.f32"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mp := filepath.Join(dir, "unet_tiny-fp32.manifest.json")
	if err := trust.Sign(mp, v.Key); err != nil {
		t.Fatal(err)
	}
	return mp
}

// Build writes a bundle of version with firmware (the file's content) and
// the model at modelManifest, signed by v, and returns its path.
func (v *Vendor) Build(t testing.TB, version string, firmware []byte, modelManifest string) string {
	t.Helper()
	dir := t.TempDir()
	fw := filepath.Join(dir, "metsentryd")
	if err := os.WriteFile(fw, firmware, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "metsentry-"+version+".bundle")
	if _, err := bundle.Build(bundle.Spec{Version: version, Firmware: fw, Models: []string{modelManifest}, ModelStore: v.Store}, v.Key, out); err != nil {
		t.Fatal(err)
	}
	return out
}
