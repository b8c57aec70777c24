//go:build !race

// The race detector slows the phantom's rendering of a full-size case past
// minutes; this test runs in the ordinary (non-race) pass only.
package export

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestRunOnRealBackground writes one case from the many-backgrounds
// generator (a real brain, a grid of its own: oblique or sagittal, 0.5-1.2 mm)
// and checks what the recipe reads: the brain named in case.json, the input's
// size, and every lesion's ID on the model grid where its centre is.
func TestRunOnRealBackground(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a full-size case on a real brain (about 15 s)")
	}
	shared := filepath.Dir(testenv.SharedData(t, "anatomy"))
	out := t.TempDir()
	o := Options{Shared: shared, Backgrounds: []string{"mricron-chris-t1"}, Split: phantom.Val, First: 1, Count: 1, Out: out, Workers: 1}
	if err := Run(context.Background(), o, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, phantom.CaseID(phantom.Val, 1))
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Background != "mricron-chris-t1" || m.Generator != phantom.VersionMulti {
		t.Fatalf("case.json names brain %q, generator %q", m.Background, m.Generator)
	}
	n := m.Dims[0] * m.Dims[1] * m.Dims[2]
	if fi, err := os.Stat(filepath.Join(dir, "input.f16")); err != nil || fi.Size() != int64(4*n) {
		t.Fatalf("input.f16: %v, want %d bytes (2 channels of float16)", err, 4*n)
	}
	labels, err := os.ReadFile(filepath.Join(dir, "label.u8"))
	if err != nil || len(labels) != n {
		t.Fatalf("label.u8: %v, %d bytes, want %d", err, len(labels), n)
	}
	if len(m.Lesions) == 0 {
		t.Fatal("val seed 1 has lesions; case.json lists none")
	}
	checked := 0
	for _, l := range m.Lesions {
		i, j, k := int(math.Round(l.CentreVox[0])), int(math.Round(l.CentreVox[1])), int(math.Round(l.CentreVox[2]))
		if l.DiameterMM < 3 || i < 0 || j < 0 || k < 0 || i >= m.Dims[0] || j >= m.Dims[1] || k >= m.Dims[2] {
			continue // a small lesion's centre may fall between labelled voxels
		}
		checked++
		if got := labels[(k*m.Dims[1]+j)*m.Dims[0]+i]; got != uint8(l.ID) {
			t.Errorf("lesion %d (%.1f mm): label %d at its centre (%d,%d,%d)", l.ID, l.DiameterMM, got, i, j, k)
		}
	}
	if checked == 0 {
		t.Fatalf("no lesion of 3 mm or more to check among %d", len(m.Lesions))
	}
}
