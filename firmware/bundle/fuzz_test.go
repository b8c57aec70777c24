package bundle_test

import (
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/bundle"
	"metsentry/firmware/bundle/bundletest"
)

// FuzzOpen feeds Open arbitrary files: it must refuse them without
// panicking or allocating past its limits. The seed is a valid bundle.
func FuzzOpen(f *testing.F) {
	v := bundletest.NewVendor(f, "vendor")
	b, err := os.ReadFile(v.Build(f, "1.0.0", firmware, v.Model(f)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(bundle.Magic + "\n{}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "x.bundle")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if bd, err := bundle.Open(p, v.Store); err == nil {
			// Only a file signed by the vendor opens; extract it.
			if err := bd.Extract(filepath.Join(t.TempDir(), "slot")); err != nil {
				t.Fatalf("opened but does not extract: %v", err)
			}
		}
	})
}
