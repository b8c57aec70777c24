package export

import (
	"math"
	"strings"
	"testing"

	"metsentry/firmware/geom"
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

// A train set never reads a test brain: naming one is refused before any
// brain is loaded.
func TestGeneratorRefusesAnotherSplitsBrain(t *testing.T) {
	for _, names := range [][]string{{"brats-preprocessed-case"}, {"colin27", "mricron-chris-t1"}, {"nosuch"}} {
		if _, err := newGenerator(Options{Backgrounds: names, Split: phantom.Train, Shared: t.TempDir()}); err == nil || strings.Contains(err.Error(), "no such file") {
			t.Errorf("train set on %v: %v, want a refusal before loading", names, err)
		}
	}
}
