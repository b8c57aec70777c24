package realcheck

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
)

// TestBraTSReference loads the real BraTS case (fails when the shared data is
// missing) and checks its geometry and that the label-free reference region
// is a plausible enhancing tumour: a few cm³, inside a larger FLAIR
// abnormality, in the left hemisphere where the images show it.
func TestBraTSReference(t *testing.T) {
	s, err := LoadStudy(testenv.SharedData(t, "anatomy", "brats-gli-00001"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "BraTS-GLI-00001-000" {
		t.Errorf("case %q", s.Name)
	}
	g := s.Grid()
	// The files' RAS sform is diag(-1, -1, 1) with y offset 239 (SRI24): in
	// LPS the grid runs along +x, +y, +z.
	want := geom.Affine{{1, 0, 0, 0}, {0, 1, 0, -239}, {0, 0, 1, 0}}
	if g.Dims != [3]int{240, 240, 155} {
		t.Errorf("dims %v, want 240×240×155", g.Dims)
	}
	if d := cmp.Diff(want, g.Affine, cmpopts.EquateApprox(0, 1e-4)); d != "" {
		t.Errorf("affine (-want +got):\n%s", d)
	}
	r, err := FindReference(s, DefaultRefParams)
	if err != nil {
		t.Fatal(err)
	}
	brain := Summarise(r.Brain, g)
	ref := Summarise(r.Enhancing, g)
	whole := Summarise(r.Whole, g)
	t.Logf("brain %.0f cm³; whole tumour %.1f cm³ centre %v; enhancing reference %.2f cm³ centre %v", brain.VolumeMM3/1000, whole.VolumeMM3/1000, whole.CentreLPS, ref.VolumeMM3/1000, ref.CentreLPS)
	if brain.VolumeMM3 < 1.0e6 || brain.VolumeMM3 > 2.0e6 {
		t.Errorf("brain %.0f cm³; an adult brain is 1000 to 2000 cm³", brain.VolumeMM3/1000)
	}
	if ref.VolumeMM3 < 1000 || ref.VolumeMM3 > 30000 {
		t.Errorf("enhancing reference %.2f cm³, want 1 to 30 cm³", ref.VolumeMM3/1000)
	}
	if whole.VolumeMM3 < 2*ref.VolumeMM3 || whole.VolumeMM3 > 300000 {
		t.Errorf("whole tumour %.1f cm³ for %.2f cm³ enhancing; want a larger FLAIR region, under 300 cm³", whole.VolumeMM3/1000, ref.VolumeMM3/1000)
	}
	// every reference voxel lies within FlairMarginMM of the envelope
	near := boxFilter(r.Envelope, g.Dims, radiusVoxels(g, DefaultRefParams.FlairMarginMM), true)
	if n := overlap(near, r.Enhancing); n != r.EnhancingVoxels {
		t.Errorf("%d of %d reference voxels lie beyond the tumour envelope", r.EnhancingVoxels-n, r.EnhancingVoxels)
	}
	// LPS x grows to the patient's left; the tumour is left of the midline.
	if dx := ref.CentreLPS[0] - brain.CentreLPS[0]; dx < 15 {
		t.Errorf("reference centre %.1f mm left of the brain's centre, want over 15 (left temporal tumour)", dx)
	}
	for i, b := range r.Edge {
		if b != 0 && r.Brain[i] == 0 {
			t.Fatal("edge outside the brain")
		}
	}
}
