package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSEGRoundTripAndValidates(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}, {60, 150, 120}, {200, 90, 40}}, []float64{6, 3, 1.2})
	if len(in.Lesions) != 3 {
		t.Fatalf("%d lesions, want 3", len(in.Lesions))
	}
	ids := NewIDs(len(in.Lesions))
	data, err := SEG(in, ids)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "seg.dcm", data)
	dciodvfy(t, path)
	got := readSEGLabels(t, data, p.src)
	if !cmp.Equal(got, in.Labels) {
		diff := 0
		for i := range got {
			if got[i] != in.Labels[i] {
				diff++
			}
		}
		t.Fatalf("SEG mask differs from the lesion mask in %d voxels", diff)
	}
}
