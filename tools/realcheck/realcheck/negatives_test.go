package realcheck

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/runtime/infer"
)

// negSynth is a small whole "head" with nothing inserted but a known spot
// in each place a false positive can fall: a brain sphere (white matter,
// grey rim, a ventricle at its centre) in a scalp shell, and bright 2×2×2
// spots that the stand-in engine flags.
type negSynth struct {
	bg   *Background
	want map[string]int // location -> spots
	left int            // spots on the tumour
}

func newNegSynth() *negSynth {
	const nx, ny, nz = 72, 72, 72
	g := geom.Grid{Dims: [3]int{nx, ny, nz}, Affine: geom.Affine{{1, 0, 0, -36}, {0, 1, 0, -36}, {0, 0, 1, -36}}}
	n := g.Len()
	img, pre := make([]float32, n), make([]float32, n)
	brain, tumour := make([]uint8, n), make([]uint8, n)
	c := [3]float64{36, 36, 36}
	r := func(i, j, k int) float64 {
		return math.Sqrt((float64(i)-c[0])*(float64(i)-c[0]) + (float64(j)-c[1])*(float64(j)-c[1]) + (float64(k)-c[2])*(float64(k)-c[2]))
	}
	for k := range nz {
		for j := range ny {
			for i := range nx {
				idx := g.Index(i, j, k)
				d := r(i, j, k)
				var v float32
				switch {
				case d < 9:
					v = 300 // ventricle CSF
				case d < 21:
					v = 1000 // white matter
				case d < 24:
					v = 750 // grey matter
				case d < 26:
					v = 300 // CSF
				case d < 29:
					v = 50 // skull
				case d < 33:
					v = 900 // scalp
				}
				if d < 26 {
					brain[idx] = 1
				}
				if (i+j+k)%4 == 0 && v > 100 {
					v *= 1.1 // a spread for the robust z-scores
				}
				img[idx], pre[idx] = v, v
			}
		}
	}
	s := &negSynth{want: map[string]int{}}
	spot := func(i, j, k int, where string, enhancing bool) {
		for dk := range 2 {
			for dj := range 2 {
				for di := range 2 {
					idx := g.Index(i+di, j+dj, k+dk)
					img[idx] = 6000
					if !enhancing {
						pre[idx] = 6000
					}
				}
			}
		}
		if where == "" {
			s.left++
		} else {
			s.want[where]++
		}
	}
	spot(36, 50, 36, LocVessel, true)     // parenchyma, 14 mm from the centre
	spot(36, 22, 36, LocBright, false)    // bright before contrast too
	spot(44, 36, 36, LocChoroid, true)    // beside the ventricle
	spot(36, 36, 60, LocEdge, true)       // 24 mm up: at the brain's edge
	spot(36, 36, 66, LocOutside, true)    // scalp, above the brain
	spot(36, 56, 14, LocSkullBase, false) // scalp, low and behind
	// a tumour mask holding one spot
	for k := 33; k < 40; k++ {
		for j := 33; j < 40; j++ {
			for i := 20; i < 27; i++ {
				tumour[g.Index(i, j, k)] = 1
			}
		}
	}
	spot(22, 36, 36, "", true)
	s.bg = &Background{Name: "synthetic", Source: "test head", PostContrast: true,
		Image: &volume.Volume{Grid: g, Data: img}, Pre: &volume.Volume{Grid: g, Data: pre},
		Brain: brain, BrainRule: "the sphere", Tumour: tumour, TumourRule: "the cube"}
	return s
}

func TestRunNegativesSynthetic(t *testing.T) {
	s := newNegSynth()
	e := &brightEngine{}
	rep, err := RunNegatives(context.Background(), []*Background{s.bg}, Options{Manifest: testManifest(), ManifestPath: "standin.json", Engine: e, Plan: infer.Plan{Multiple: 8}}, DefaultNegParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || e.runs != 2 {
		t.Fatalf("%d rows from %d runs, want 2 and 2 (VISIBLE-like and bright-only)", len(rep.Rows), e.runs)
	}
	if !e.blackNonZero {
		t.Error("the VISIBLE-like pass fed a zeroed black channel")
	}
	for _, row := range rep.Rows {
		got := map[string]int{}
		for _, f := range row.Findings {
			got[f.Where]++
		}
		for _, l := range Locations {
			if got[l] != s.want[l] {
				t.Errorf("%s: %q: %d false positives, want %d (all: %+v)", row.Input, l, got[l], s.want[l], row.Findings)
			}
		}
		if row.LeftOut != s.left {
			t.Errorf("%s: %d left out on the tumour, want %d", row.Input, row.LeftOut, s.left)
		}
	}
	if bg := rep.Backgrounds[0]; !(bg.BloodCM3 > 0) {
		t.Errorf("no blood suppressed in the black-blood image of a post-contrast head with enhancing spots")
	}
	checkNegTable(t, rep)
	dir := t.TempDir()
	if err := rep.WriteNegatives(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"negatives.md", "negatives.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// checkNegTable checks the scoreboard's markdown table: the header, one
// line per row with every cell, the false positives equal to the report's
// and to the sum of the location columns.
func checkNegTable(t *testing.T, rep *NegReport) {
	t.Helper()
	md := rep.Markdown()
	header := "| " + strings.Join(NegHeader, " | ") + " |"
	lines := strings.Split(md, "\n")
	at := -1
	for i, l := range lines {
		if l == header {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no table header %q in\n%s", header, md)
	}
	for r, row := range rep.Rows {
		cells := strings.Split(strings.Trim(lines[at+2+r], "| "), " | ")
		if len(cells) != len(NegHeader) {
			t.Fatalf("table line %q has %d cells, want %d", lines[at+2+r], len(cells), len(NegHeader))
		}
		if cells[0] != row.Brain || cells[2] != row.Input {
			t.Errorf("table line %d is %q / %q, want %q / %q", r, cells[0], cells[2], row.Brain, row.Input)
		}
		fp, sum := 0, 0
		if _, err := fmt.Sscan(strings.Trim(cells[3], "*"), &fp); err != nil {
			t.Fatal(err)
		}
		for i := range Locations {
			k := 0
			if _, err := fmt.Sscan(cells[4+i], &k); err != nil {
				t.Fatal(err)
			}
			sum += k
		}
		if fp != len(row.Findings) || sum != fp {
			t.Errorf("%s %s: table says %d false positives, %d by location; the report has %d", row.Brain, row.Input, fp, sum, len(row.Findings))
		}
	}
}

func TestExtractBrainSynthetic(t *testing.T) {
	// a larger head: ExtractBrain wants a brain-sized core (≥ 100 cm³ after
	// peeling 8 mm and eroding 4 mm)
	const nx = 120
	g := geom.Grid{Dims: [3]int{nx, nx, nx}, Affine: geom.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}}
	img := make([]float32, g.Len())
	truth := make([]uint8, g.Len())
	for k := range nx {
		for j := range nx {
			for i := range nx {
				d := math.Sqrt(float64((i-60)*(i-60) + (j-60)*(j-60) + (k-60)*(k-60)))
				var v float32
				switch {
				case d < 8:
					v = 300
				case d < 40:
					v = 1000
				case d < 45:
					v = 800
				case d < 47:
					v = 250 // CSF
				case d < 52:
					v = 60 // skull
				case d < 57:
					v = 1100 // scalp fat
				case d < 62:
					v = 600 // muscle
				}
				if d < 47 {
					truth[g.Index(i, j, k)] = 1
				}
				img[g.Index(i, j, k)] = v + float32((i*7+j*13+k*5)%40)
			}
		}
	}
	m, err := ExtractBrain(&volume.Volume{Grid: g, Data: img})
	if err != nil {
		t.Fatal(err)
	}
	both, nm, nt := 0, 0, 0
	for i := range m {
		if m[i] != 0 {
			nm++
		}
		if truth[i] != 0 {
			nt++
			if m[i] != 0 {
				both++
			}
		}
	}
	dice := 2 * float64(both) / float64(nm+nt)
	if dice < 0.9 {
		t.Errorf("brain mask Dice %.3f with the true brain (%d voxels, %d found, %d both), want ≥ 0.9", dice, nt, nm, both)
	}
	if _, err := ExtractBrain(&volume.Volume{Grid: g, Data: make([]float32, g.Len())}); err == nil {
		t.Error("an empty image gave a brain")
	}
}

func TestBlackRatio(t *testing.T) {
	lv := TissueLevels{CSF: 200, GM: 600, WM: 1000, Top: 1500}
	tests := []struct {
		name string
		v    float64
		want float64
	}{
		{"CSF", 200, 0.5},
		{"below CSF", 100, 0.5},
		{"GM", 600, 0.82 / 0.74},
		{"WM", 1000, 1},
		{"top", 1500, 0.825 / 0.975},
		{"above top", 3000, 0.825 / 0.975},
		{"between GM and WM", 800, (0.82/0.74 + 1) / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := blackRatio(lv, tc.v); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("blackRatio(%v) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
}

// dimEngine is brightEngine with every probability scaled by v.
type dimEngine struct {
	brightEngine
	v float32
}

func (e *dimEngine) Run(ctx context.Context, in []float32, shape [5]int64) ([]float32, error) {
	out, err := e.brightEngine.Run(ctx, in, shape)
	for i := range out {
		out[i] *= e.v
	}
	return out, err
}

// Levels count each row's false positives again at other levels of its
// operating map: at the operating point's own level, the findings; above
// every probability, none. The summary and the report follow.
func TestRunNegativesLevels(t *testing.T) {
	s := newNegSynth()
	o := Options{Manifest: testManifest(), ManifestPath: "standin.json", Engine: &dimEngine{v: 0.7}, Plan: infer.Plan{Multiple: 8}, Levels: []float64{0.5, 0.9}}
	rep, err := RunNegatives(context.Background(), []*Background{s.bg}, o, DefaultNegParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rep.Rows {
		if len(row.Findings) == 0 {
			t.Fatalf("%s: no false positives at the operating point; the test needs some", row.Input)
		}
		want := []LevelCount{{0.5, len(row.Findings)}, {0.9, 0}}
		if !slices.Equal(row.ByLevel, want) {
			t.Errorf("%s: by level %+v, want %+v", row.Input, row.ByLevel, want)
		}
	}
	sums := rep.SummariseLevels()
	if len(sums) != 4 {
		t.Fatalf("%d level summaries, want 2 inputs × 2 levels", len(sums))
	}
	for _, sm := range sums {
		if sm.Level == 0.9 && (!sm.Met || sm.MeanFP != 0) || sm.Level == 0.5 && sm.Met {
			t.Errorf("%+v: at 0.5 every brain has %d false positives, at 0.9 none", sm, len(rep.Rows[0].Findings))
		}
	}
	md := rep.Markdown()
	for _, want := range []string{"## At other levels of the operating map", "| brain | input | 0.5 | 0.9 |", "| **target met** | " + InputVisibleLike + " | no | yes |"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	o.Levels = nil
	if rep, err = RunNegatives(context.Background(), []*Background{s.bg}, o, DefaultNegParams, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rep.Markdown(), "At other levels") || rep.Rows[0].ByLevel != nil {
		t.Error("a run without levels reports levels")
	}
}
