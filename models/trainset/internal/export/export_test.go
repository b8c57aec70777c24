package export

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

func TestF16(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e6, 0x7bff},
		{float32(math.Pow(2, -14)), 0x0400}, {float32(math.Pow(2, -24)), 0x0001}, {1.0009765625, 0x3c01},
		{1.00048828125, 0x3c00}, // halfway, rounds to even
	} {
		if got := f16(tc.in); got != tc.want {
			t.Errorf("f16(%g) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestLabelsOnModelGridIsACrop(t *testing.T) {
	src := geom.Grid{Dims: [3]int{10, 10, 10}, Affine: geom.Affine{{1, 0, 0, -5}, {0, 1, 0, -5}, {0, 0, 1, -5}}}
	labels := make([]uint16, src.Len())
	labels[src.Index(6, 7, 8)] = 3
	model := geom.Grid{Dims: [3]int{4, 4, 4}, Affine: geom.Affine{{1, 0, 0, -1}, {0, 1, 0, 0}, {0, 0, 1, 1}}}
	out, err := labelsOnModelGrid(model, src, labels)
	if err != nil {
		t.Fatal(err)
	}
	// Source voxel (6,7,8) is at LPS (1,2,3) = model voxel (2,2,2).
	for i, v := range out {
		if want := i == model.Index(2, 2, 2); (v == 3) != want {
			t.Fatalf("voxel %d = %d", i, v)
		}
	}
}

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
