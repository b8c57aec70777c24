package phantom

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/tools/realcheck/realcheck"
)

func TestDefaultBrainSplits(t *testing.T) {
	seen := map[Split][]string{}
	for _, n := range realcheck.BackgroundNames {
		s, ok := DefaultBrainSplits[n]
		if !ok {
			t.Errorf("brain %s has no split", n)
			continue
		}
		seen[s] = append(seen[s], n)
	}
	if len(DefaultBrainSplits) != len(realcheck.BackgroundNames) {
		t.Errorf("%d brains in DefaultBrainSplits, %d real brains", len(DefaultBrainSplits), len(realcheck.BackgroundNames))
	}
	for _, s := range []Split{Train, Val, Test} {
		if len(seen[s]) == 0 {
			t.Errorf("split %s has no brain", s)
		}
	}
	// issue 23: the test figures hold out a real post-contrast brain and a
	// non-contrast head
	post, plain := false, false
	for _, n := range seen[Test] {
		if strings.HasPrefix(n, "brats-") {
			post = true
		} else {
			plain = true
		}
	}
	if !post || !plain {
		t.Errorf("test brains %v: want a real post-contrast brain and a non-contrast head", seen[Test])
	}
}

// synthHead is a small head: a brain sphere (ventricle, white matter, grey
// matter, CSF) in skull and scalp; post adds a pre-contrast image and an
// enhancing vessel.
func synthHead(name string, post bool) *realcheck.Background {
	const n = 72
	g := geom.Grid{Dims: [3]int{n, n, n}, Affine: geom.Affine{{1, 0, 0, -36}, {0, 1, 0, -36}, {0, 0, 1, -36}}}
	img, pre := make([]float32, g.Len()), make([]float32, g.Len())
	brain := make([]uint8, g.Len())
	for k := range n {
		for j := range n {
			for i := range n {
				d := math.Sqrt(float64((i-36)*(i-36) + (j-36)*(j-36) + (k-36)*(k-36)))
				var v float32
				switch {
				case d < 6:
					v = 300
				case d < 20:
					v = 1000
				case d < 25:
					v = 750
				case d < 27:
					v = 300
				case d < 30:
					v = 50
				case d < 34:
					v = 900
				}
				idx := g.Index(i, j, k)
				if d < 27 {
					brain[idx] = 1
				}
				if (i+2*j+3*k)%5 == 0 && v > 100 {
					v *= 1.1
				}
				img[idx], pre[idx] = v, v
				if post && math.Hypot(float64(i-46), float64(k-40)) < 1.5 && j > 20 && j < 52 {
					img[idx] = 4000 // an enhancing vessel
				}
			}
		}
	}
	b := &realcheck.Background{Name: name, Source: "test head", PostContrast: post, Image: &volume.Volume{Grid: g, Data: img}, Brain: brain, BrainRule: "sphere"}
	if post {
		b.Pre = &volume.Volume{Grid: g, Data: pre}
	}
	return b
}

func TestMultiSplitsNeverShareABrain(t *testing.T) {
	bgs := []*realcheck.Background{synthHead("a", false), synthHead("b", true), synthHead("c", false), synthHead("d", true)}
	splits := map[string]Split{"a": Train, "b": Train, "c": Val, "d": Test}
	m, err := newMulti(bgs, splits, Config{Dims: [3]int{64, 64, 64}, MaxLesions: 3, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	brainSplit := map[string]Split{}
	for _, s := range []Split{Train, Val, Test} {
		for seed := range uint64(2) {
			c, err := m.Generate(seed, s)
			if err != nil {
				t.Fatal(err)
			}
			tr := TruthOf(c)
			if tr.Generator != VersionMulti || tr.SplitBy != "brain" || tr.Background == "" {
				t.Fatalf("case %s: generator %q, split_by %q, background %q", c.ID, tr.Generator, tr.SplitBy, tr.Background)
			}
			if prev, ok := brainSplit[tr.Background]; ok && prev != s {
				t.Errorf("brain %s in splits %s and %s", tr.Background, prev, s)
			}
			brainSplit[tr.Background] = s
			if splits[tr.Background] != s {
				t.Errorf("case %s drawn from brain %s of split %s", c.ID, tr.Background, splits[tr.Background])
			}
		}
	}
	if !slices.Equal(m.Brains(Train), []string{"a", "b"}) || len(brainSplit) != 4 {
		t.Errorf("train brains %v, brains used %v: want a and b in train and all four used", m.Brains(Train), brainSplit)
	}
	if _, err := newMulti(bgs, map[string]Split{"a": Train}, Config{}); err == nil {
		t.Error("a brain without a split was accepted")
	}
}

func TestMultiDeterministicAndPostContrast(t *testing.T) {
	bgs := []*realcheck.Background{synthHead("post", true), synthHead("plain", false)}
	cfg := Config{Dims: [3]int{64, 64, 64}, MaxLesions: 3, LesionFree: -1, GhostProb: -1}
	m, err := newMulti(bgs, map[string]Split{"post": Test, "plain": Train}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := m.Generate(1, Test)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := m.Generate(1, Test)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c1.Bright, c2.Bright) || !slices.Equal(c1.Black, c2.Black) {
		t.Error("the same (split, seed) gave different images")
	}
	if !c1.Params.PostContrast || c1.Params.Gain <= 0 {
		t.Fatalf("params %+v: a post-contrast case with a gain expected", c1.Params)
	}
	// the real enhancing vessel is blood: in the vessel map, bright in
	// bright-blood, darker in black-blood on the whole
	var nb int
	var sb, sk float64
	for i, pv := range c1.VesselPV {
		if pv >= PVSamples/2 && c1.Labels[i] == 0 {
			nb++
			sb += float64(c1.Bright[i])
			sk += float64(c1.Black[i])
		}
	}
	if nb == 0 {
		t.Fatal("no voxel of the real enhancing vessel in the vessel map")
	}
	if !(sk < 0.7*sb) {
		t.Errorf("real blood: black-blood mean %.0f, bright-blood mean %.0f over %d voxels: want black below 0.7 × bright", sk/float64(nb), sb/float64(nb), nb)
	}
	// a case of the same seed on another split and brain differs
	c3, err := m.Generate(1, Train)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Params.Background != "plain" || c3.Params.PostContrast || slices.Equal(c3.Bright, c1.Bright) {
		t.Errorf("train case: background %q, post-contrast %v", c3.Params.Background, c3.Params.PostContrast)
	}
}

func TestMultiGridsVary(t *testing.T) {
	m, err := newMulti([]*realcheck.Background{synthHead("a", false)}, map[string]Split{"a": Train}, Config{Dims: [3]int{64, 64, 64}, MaxLesions: 2, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	orients := map[string]bool{}
	checked := false
	for seed := range uint64(8) {
		c, err := m.Generate(seed, Train)
		if err != nil {
			t.Fatal(err)
		}
		p := c.Params
		orients[p.Orientation] = true
		sp := c.Grid.Spacing()
		for a := range 3 {
			if sp[a] < 0.5-1e-9 || sp[a] > 2.4 || math.Abs(sp[a]-p.SpacingMM[a]) > 1e-3 {
				t.Errorf("case %s: spacing %v, recorded %v", c.ID, sp, p.SpacingMM)
			}
		}
		if math.Abs(sp[0]-sp[1]) > 1e-9 {
			t.Errorf("case %s: in-plane spacing %v differs", c.ID, sp)
		}
		if p.Orientation != "axial" && !checked {
			// the DICOM series read back lie on the case's grid
			checked = true
			dir := t.TempDir()
			if err := WriteDICOM(dir, c); err != nil {
				t.Fatal(err)
			}
			for _, s := range SeriesOf() {
				files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("s%d", s.Number), "*.dcm"))
				v, err := volume.Assemble(files, volume.Options{})
				if err != nil {
					t.Fatalf("case %s (%s): %v", c.ID, p.Orientation, err)
				}
				if v.Grid.Dims != c.Grid.Dims || !v.Grid.Near(c.Grid, 1e-3) {
					t.Errorf("case %s (%s): series %d read back on %v %v, the case's grid %v %v", c.ID, p.Orientation, s.Number, v.Grid.Dims, v.Grid.Affine, c.Grid.Dims, c.Grid.Affine)
				}
			}
		}
	}
	if len(orients) < 2 || !checked {
		t.Errorf("orientations over 8 cases: %v; want more than one", orients)
	}
}

func TestBrainsOf(t *testing.T) {
	for _, tc := range []struct {
		name, arg string
		split     Split
		want      []string
		err       string
	}{
		{"all test", "all", Test, []string{"brats-preprocessed-case", "philips-mprage-sag3d"}, ""},
		{"all val", "all", Val, []string{"mricron-chris-t1"}, ""},
		{"named", "philips-mprage-sag3d", Test, []string{"philips-mprage-sag3d"}, ""},
		{"other split", "colin27", Test, nil, "train split, not test"},
		{"unknown", "nobody", Test, nil, `no brain "nobody"`},
		{"empty", ",", Test, nil, "names no brain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BrainsOf(tc.arg, tc.split)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
