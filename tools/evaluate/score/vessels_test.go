package score

import (
	"errors"
	"strings"
	"testing"
)

// grid5 is a 5×5×5 grid with the voxels at the given (x, y, z) set.
func grid5(pts ...[3]int) []bool {
	m := make([]bool, 125)
	for _, p := range pts {
		m[p[0]+5*(p[1]+5*p[2])] = true
	}
	return m
}

func count(m []bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

func TestZone(t *testing.T) {
	dims := [3]int{5, 5, 5}
	centre := [3]int{2, 2, 2}
	for _, tc := range []struct {
		name    string
		mask    []bool
		spacing [3]float64
		reach   float64
		want    int // voxels in the zone
		in, out [][3]int
	}{
		{"no reach", grid5(centre), [3]float64{1, 1, 1}, 0, 1, [][3]int{centre}, [][3]int{{2, 2, 3}}},
		{"1 mm on a 1 mm grid: face neighbours", grid5(centre), [3]float64{1, 1, 1}, 1, 7, [][3]int{{1, 2, 2}, {2, 2, 3}}, [][3]int{{1, 1, 2}, {3, 3, 3}}},
		{"1.5 mm adds the edge neighbours", grid5(centre), [3]float64{1, 1, 1}, 1.5, 19, [][3]int{{1, 1, 2}}, [][3]int{{3, 3, 3}}},
		{"2 mm slices: in plane only", grid5(centre), [3]float64{1, 1, 2}, 1, 5, [][3]int{{2, 1, 2}}, [][3]int{{2, 2, 3}}},
		{"0.5 mm voxels: two voxels out", grid5(centre), [3]float64{0.5, 0.5, 0.5}, 1, 33, [][3]int{{0, 2, 2}, {1, 1, 2}}, [][3]int{{0, 1, 2}}},
		{"clipped at the border", grid5([3]int{0, 0, 0}), [3]float64{1, 1, 1}, 1, 4, [][3]int{{1, 0, 0}}, [][3]int{{1, 1, 0}}},
		{"empty mask", grid5(), [3]float64{1, 1, 1}, 1, 0, nil, [][3]int{centre}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := Zone(tc.mask, dims, tc.spacing, tc.reach)
			if err != nil {
				t.Fatal(err)
			}
			if n := count(z); n != tc.want {
				t.Errorf("zone of %d voxels, want %d", n, tc.want)
			}
			for _, p := range tc.in {
				if !z[p[0]+5*(p[1]+5*p[2])] {
					t.Errorf("%v not in the zone", p)
				}
			}
			for _, p := range tc.out {
				if z[p[0]+5*(p[1]+5*p[2])] {
					t.Errorf("%v in the zone", p)
				}
			}
		})
	}
	for _, tc := range []struct {
		name    string
		mask    []bool
		spacing [3]float64
		reach   float64
	}{
		{"short mask", make([]bool, 124), [3]float64{1, 1, 1}, 1},
		{"negative reach", grid5(), [3]float64{1, 1, 1}, -1},
		{"zero spacing", grid5(), [3]float64{1, 0, 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Zone(tc.mask, dims, tc.spacing, tc.reach); !errors.Is(err, ErrInput) {
				t.Errorf("got %v, want ErrInput", err)
			}
		})
	}
}

// TestFPOnVessel scores one false positive (or a hit) at a time on a 5×5×5
// grid with a vessel along x at (y 2, z 2), the default rule's 1 mm reach,
// and a gland voxel at (0, 0, 4).
func TestFPOnVessel(t *testing.T) {
	dims := [3]int{5, 5, 5}
	var vessel [][3]int
	for x := 0; x < 5; x++ {
		vessel = append(vessel, [3]int{x, 2, 2})
	}
	vz, err := Zone(grid5(vessel...), dims, [3]float64{1, 1, 1}, DefaultVesselRule.ReachMM)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := Zone(grid5([3]int{0, 0, 4}), dims, [3]float64{1, 1, 1}, DefaultVesselRule.ReachMM)
	if err != nil {
		t.Fatal(err)
	}
	truth := make([]uint16, 125)
	truth[4+5*(4+5*0)] = 1 // a lesion in the corner (4, 4, 0)
	for _, tc := range []struct {
		name                  string
		pred                  [][3]int
		fp, onVessel, onGland int
		noZones               bool
	}{
		{"on the vessel", [][3]int{{1, 2, 2}, {2, 2, 2}}, 1, 1, 0, false},
		{"beside it (1 mm)", [][3]int{{2, 3, 2}}, 1, 1, 0, false},
		{"diagonal to it (1.4 mm)", [][3]int{{2, 3, 3}}, 1, 0, 0, false},
		{"one voxel of a larger blob beside it", [][3]int{{2, 4, 4}, {2, 4, 3}, {2, 3, 3}, {2, 3, 2}}, 1, 1, 0, false},
		{"far", [][3]int{{0, 0, 0}}, 1, 0, 0, false},
		{"on the gland", [][3]int{{0, 1, 4}}, 1, 0, 1, false},
		{"a hit beside the vessel is no false positive", [][3]int{{4, 3, 1}, {4, 3, 2}}, 0, 0, 0, false},
		{"two false positives, one on the vessel", [][3]int{{0, 0, 0}, {3, 2, 3}}, 2, 1, 0, false},
		{"zones unknown", [][3]int{{1, 2, 2}}, 1, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{ID: "v", Dims: dims, Truth: truth, Lesions: []TruthLesion{{ID: 1, DiameterMM: 1}}, Pred: grid5(tc.pred...), VesselZone: vz, GlandZone: gz}
			if tc.noZones {
				in.VesselZone, in.GlandZone = nil, nil
			}
			r, err := Case(in)
			if err != nil {
				t.Fatal(err)
			}
			if r.FP != tc.fp || r.FPOnVessel != tc.onVessel || r.FPOnGland != tc.onGland || r.VesselsKnown == tc.noZones {
				t.Errorf("FP %d, on vessel %d, on gland %d, known %v; want %d, %d, %d, %v", r.FP, r.FPOnVessel, r.FPOnGland, r.VesselsKnown, tc.fp, tc.onVessel, tc.onGland, !tc.noZones)
			}
			s := Summarize([]CaseResult{r, r})
			if s.FPOnVessel != 2*tc.onVessel || s.FPOnVesselPerCase != float64(tc.onVessel) || s.VesselsKnown == tc.noZones {
				t.Errorf("summary: %d on vessels (%.2f per case), known %v", s.FPOnVessel, s.FPOnVesselPerCase, s.VesselsKnown)
			}
		})
	}
	t.Run("zone of the wrong size", func(t *testing.T) {
		in := Input{ID: "v", Dims: dims, Truth: truth, Lesions: []TruthLesion{{ID: 1}}, Pred: grid5(), VesselZone: make([]bool, 10)}
		if _, err := Case(in); !errors.Is(err, ErrInput) {
			t.Errorf("got %v, want ErrInput", err)
		}
	})
	t.Run("one case without zones makes the summary unknown", func(t *testing.T) {
		s := Summarize([]CaseResult{{VesselsKnown: true, FP: 1, FPOnVessel: 1}, {FP: 1}})
		if s.VesselsKnown {
			t.Error("summary claims vessel counts for a case that had none")
		}
	})
}

func TestReportVessels(t *testing.T) {
	cases := []CaseResult{{ID: "a", VesselsKnown: true, FP: 4, FPOnVessel: 3, FPOnGland: 1}, {ID: "b", VesselsKnown: true}}
	r := Report{Split: "test", Seeds: []uint64{0, 1}, Input: InputBrightOnly, VesselRule: DefaultVesselRule.String(), Cases: cases, Summary: Summarize(cases),
		FROC: []FROCPoint{{Threshold: 0.5, Sensitivity: 1, FPPerCase: 2, FPOnVesselPerCase: 1.5}}}
	var md, js strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- input: **bright-only", "within 1 mm", "at least 25% blood vessel",
		"| false positives on vessels per case | 1.50 (3, 75.0% of false positives) |",
		"| false positives on choroid plexus / pituitary per case | 0.50 (1, 25.0% of false positives) |",
		"| threshold | sensitivity | FP per case | FP on vessels per case |", "| 0.5 | 100.0% | 2.00 | 1.50 |",
		"| a | 0 | 0 | 4 | 3 | 1 | false |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"input": "bright-only`, `"fp_on_vessel": 3`, `"fp_on_vessel_per_case": 1.5`, `"vessels_known": true`, `"vessel_rule": "a false-positive`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("json lacks %q", want)
		}
	}
	// without vessel zones the report says nothing about vessels
	r.Cases = []CaseResult{{ID: "a", FP: 4}}
	r.Summary = Summarize(r.Cases)
	md.Reset()
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md.String(), "on vessels") {
		t.Errorf("report speaks of vessels it did not measure:\n%s", md.String())
	}
}
