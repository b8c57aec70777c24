package selftest_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"metsentry/firmware/analyze"
	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/selftest"
	"metsentry/firmware/volume"
)

// closeCount is an engine that counts Close calls and fails every run.
type closeCount struct {
	failNet
	closed *int
}

func (c closeCount) Close() error { *c.closed++; return nil }

func TestOpen(t *testing.T) {
	ctx := context.Background()
	closed := 0
	tests := []struct {
		name       string
		open       selftest.Opener
		want       string
		wantClosed int
	}{
		{"damaged model file", func(context.Context) (*analyze.Model, error) {
			return nil, errors.New("trust: model file does not match its manifest")
		}, "the model could not be opened: trust: model file does not match its manifest", 0},
		{"no model", func(context.Context) (*analyze.Model, error) { return nil, nil }, "no model to test", 0},
		{"opened model fails its run, and is closed", func(context.Context) (*analyze.Model, error) {
			return testModel(closeCount{closed: &closed}), nil
		}, "the model could not analyse the phantom", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			closed = 0
			r := selftest.Open(ctx, tc.open)
			if r.Passed {
				t.Fatalf("passed:\n%s", r)
			}
			if err := r.Err(); !errors.Is(err, selftest.ErrFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Err() = %v, want ErrFailed saying %q", err, tc.want)
			}
			if closed != tc.wantClosed {
				t.Fatalf("engine closed %d times, want %d", closed, tc.wantClosed)
			}
		})
	}
}

// The phantom holds what it says: lesions bright in both channels, the vein
// bright only where vessels are not suppressed, tissue and air between.
func TestPhantom(t *testing.T) {
	ph := sharedPhantom(t)
	g := ph.Bright.Grid
	at := func(v *volume.Volume, p geom.Vec3) float64 {
		// mean over a 3×3×3 block, to see through the noise
		inv, err := g.Affine.Inverse()
		if err != nil {
			t.Fatal(err)
		}
		c := inv.Apply(p)
		var s float64
		for dk := -1; dk <= 1; dk++ {
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					s += float64(v.Data[g.Index(int(math.Round(c[0]))+di, int(math.Round(c[1]))+dj, int(math.Round(c[2]))+dk)])
				}
			}
		}
		return s / 27
	}
	if len(ph.Lesions) != 3 || len(ph.Vessels) != 1 {
		t.Fatalf("phantom has %d lesions and %d vessels, want 3 and 1", len(ph.Lesions), len(ph.Vessels))
	}
	wm := geom.Vec3{0, -20, 35}
	v := ph.Vessels[0]
	mid := v.From.Add(v.To).Scale(0.5)
	tests := []struct {
		name          string
		p             geom.Vec3
		bright, black [2]float64 // inclusive ranges
	}{
		{"white matter", wm, [2]float64{900, 1100}, [2]float64{900, 1100}},
		{"air", geom.Vec3{0, 0, 74}, [2]float64{0, 80}, [2]float64{0, 80}},
		{"vein", mid, [2]float64{1150, 1700}, [2]float64{0, 700}},
		{"ventricle", geom.Vec3{9, 2, 8}, [2]float64{150, 350}, [2]float64{50, 250}},
	}
	for _, l := range ph.Lesions {
		if l.Kind == selftest.KindSolid {
			tests = append(tests, struct {
				name          string
				p             geom.Vec3
				bright, black [2]float64
			}{l.Name + " lesion", l.CentreLPS, [2]float64{1450, 1750}, [2]float64{1450, 1750}})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, k := at(ph.Bright, tc.p), at(ph.Black, tc.p)
			if b < tc.bright[0] || b > tc.bright[1] || k < tc.black[0] || k > tc.black[1] {
				t.Fatalf("at %v bright %.0f (want %v), black %.0f (want %v)", tc.p, b, tc.bright, k, tc.black)
			}
		})
	}
}

// sphere is a finding: the voxels of g within r mm of c.
func sphere(g geom.Grid, c geom.Vec3, r float64) detect.Lesion {
	var l detect.Lesion
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				p := g.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
				if p.Sub(c).Norm() <= r {
					l.Voxels = append(l.Voxels, g.Index(i, j, k))
					l.CentreLPS = l.CentreLPS.Add(p)
				}
			}
		}
	}
	l.CentreLPS = l.CentreLPS.Scale(1 / float64(len(l.Voxels)))
	l.VolumeMM3 = float64(len(l.Voxels))
	return l
}

func TestCompare(t *testing.T) {
	g := geom.Grid{Dims: [3]int{64, 64, 64}, Affine: geom.FromDICOM(geom.Vec3{-32, -32, -32}, geom.Vec3{1, 0, 0}, geom.Vec3{0, 1, 0}, [2]float64{1, 1}, geom.Vec3{0, 0, 1})}
	a := selftest.Placed{Name: "a", CentreLPS: geom.Vec3{-12, 0, 0}, DiameterMM: 10, Kind: selftest.KindSolid}
	b := selftest.Placed{Name: "b", CentreLPS: geom.Vec3{12, 5, 5}, DiameterMM: 8, Kind: selftest.KindSolid}
	vein := selftest.Vessel{Name: "vein", From: geom.Vec3{-20, -20, 20}, To: geom.Vec3{20, -20, 20}, RadiusMM: 1}
	ph := &selftest.Phantom{Bright: &volume.Volume{Grid: g}, Lesions: []selftest.Placed{a, b}, Vessels: []selftest.Vessel{vein}}
	exact := func() []detect.Lesion { return []detect.Lesion{sphere(g, a.CentreLPS, 5), sphere(g, b.CentreLPS, 4)} }
	half := func(l detect.Lesion, upper bool) detect.Lesion {
		var out detect.Lesion
		for _, v := range l.Voxels {
			if (v/(g.Dims[0]*g.Dims[1]) >= 32) == upper {
				out.Voxels = append(out.Voxels, v)
			}
		}
		return out
	}
	tests := []struct {
		name     string
		mode     analyze.Mode
		lesions  []detect.Lesion
		want     []string // pieces of the error; none: it passes
		wantLine string   // a piece of String()
	}{
		{"exact", analyze.Visible, exact(), nil, "PASS"},
		{"one missed", analyze.Visible, exact()[:1], []string{"the b lesion (8 mm, solid) was not found"}, "MISSED"},
		{"nothing found", analyze.Visible, nil, []string{"the a lesion", "the b lesion"}, "MISSED"},
		{"bright-only", analyze.BrightOnly, exact(), []string{"read as bright-only, expected VISIBLE"}, "FAIL"},
		{"false positive on the vein", analyze.Visible, append(exact(), sphere(g, geom.Vec3{0, -20, 20}, 2)), []string{"1 finding(s) where the phantom has no lesion"}, "on the vein"},
		{"false positive elsewhere", analyze.Visible, append(exact(), sphere(g, geom.Vec3{0, 20, -20}, 2)), []string{"1 finding(s)"}, "false positive at (0, 20, -20)"},
		{"swollen", analyze.Visible, []detect.Lesion{sphere(g, a.CentreLPS, 7), sphere(g, b.CentreLPS, 4)}, []string{"the a lesion was found with", "expected 0.50× to 1.80×"}, "OUT OF TOLERANCE"},
		{"shrunk", analyze.Visible, []detect.Lesion{sphere(g, a.CentreLPS, 3), sphere(g, b.CentreLPS, 4)}, []string{"the a lesion was found with"}, "OUT OF TOLERANCE"},
		{"off centre", analyze.Visible, []detect.Lesion{sphere(g, a.CentreLPS.Add(geom.Vec3{0, 0, 4}), 5), sphere(g, b.CentreLPS, 4)}, []string{"the a lesion was found 4.0 mm from where it was put (at most 2.0 mm allowed)"}, "OUT OF TOLERANCE"},
		{"in two pieces", analyze.Visible, []detect.Lesion{half(exact()[0], false), half(exact()[0], true), exact()[1]}, []string{"the a lesion was found as 2 pieces"}, "OUT OF TOLERANCE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := selftest.Compare(ph, &analyze.Findings{Mode: tc.mode, Lesions: tc.lesions})
			if !strings.Contains(r.String(), tc.wantLine) {
				t.Errorf("String() does not say %q:\n%s", tc.wantLine, r)
			}
			if len(tc.want) == 0 {
				if !r.Passed || r.Err() != nil {
					t.Fatalf("failed: %v", r.Err())
				}
				return
			}
			err := r.Err()
			if r.Passed || !errors.Is(err, selftest.ErrFailed) {
				t.Fatalf("passed or Err() = %v is not ErrFailed:\n%s", err, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
		})
	}
}
