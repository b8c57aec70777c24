package detect

import (
	"math"
	"slices"
	"strings"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// blackOnly is a stage that trusts the black-blood channel alone: a
// candidate bright there (an enhancing lesion) scores high, a dark one (a
// vessel) low.
func blackOnly() *manifest.Rescore {
	n := len(RescoreFeatures)
	r := &manifest.Rescore{Candidate: 0.1, Accept: 0.5, Features: RescoreFeatures, Mean: make([]float64, n), Scale: make([]float64, n), Weights: make([]float64, n)}
	for i := range n {
		r.Scale[i] = 1
	}
	r.Weights[4] = 4 // mean_black
	return r
}

// A faint ball bright on black-blood is kept and a faint line dark on it is
// dropped, though the network gave both the same probability; the score
// covers each candidate's core only.
func TestRescore(t *testing.T) {
	g := grid(24, 24, 24, geom.Vec3{1, 1, 1}, geom.Vec3{})
	n := g.Len()
	prob, black, bright := make([]float32, n), make([]float32, n), make([]float32, n)
	ball := sphere(6, 2)
	for _, c := range ball {
		prob[g.Index(c[0], c[1], c[2])] = 0.3
		black[g.Index(c[0], c[1], c[2])] = 1.5
		bright[g.Index(c[0], c[1], c[2])] = 2
	}
	// The ball's rim is a shade fainter: outside the core (half of 0.3).
	prob[g.Index(6, 6, 4)] = 0.12
	var line [][3]int
	for i := 2; i < 22; i++ {
		line = append(line, [3]int{i, 18, 18})
	}
	set(prob, g, 0.3, line...)
	set(black, g, -1.5, line...)
	set(bright, g, 2.5, line...)

	r := blackOnly()
	score, err := Rescore(prob, black, bright, nil, g.Dims, r)
	if err != nil {
		t.Fatal(err)
	}
	ballScore := score[g.Index(6, 6, 6)]
	if want := float32(1 / (1 + math.Exp(-4*1.5))); math.Abs(float64(ballScore-want)) > 1e-3 {
		t.Errorf("ball scored %g, want %g", ballScore, want)
	}
	if s := score[g.Index(10, 18, 18)]; s >= 0.5 {
		t.Errorf("line (a vessel) scored %g, want under 0.5", s)
	}
	if s := score[g.Index(6, 6, 4)]; s != 0 {
		t.Errorf("the ball's faint rim got %g; only the core carries the score", s)
	}
	if s := score[g.Index(0, 0, 0)]; s != 0 {
		t.Errorf("background %g", s)
	}
	lesions, err := Find(score, g, Params{Threshold: r.Accept}, Reference{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lesions) != 1 || lesions[0].CentreVoxel.Sub(geom.Vec3{6, 6, 6}).Norm() > 0.1 {
		t.Fatalf("found %d lesions (%+v), want the ball alone", len(lesions), lesions)
	}
}

// The mass rule: a large piece of core the network is sure of keeps its
// peak probability as its score though the stage turns it down; a small
// candidate with the same peak, a large one under the rule's probability,
// and a small piece of core that the mass's haze joins to its candidate
// (a vessel beside a tumour) get the stage's score.
func TestRescoreMassRule(t *testing.T) {
	g := grid(32, 32, 32, geom.Vec3{1, 1, 1}, geom.Vec3{})
	n := g.Len()
	prob, black, bright := make([]float32, n), make([]float32, n), make([]float32, n)
	mass := box(2, 2, 2, 8)     // 512 voxels, all core
	small := box(20, 20, 20, 3) // 27 voxels
	faint := box(2, 20, 2, 8)   // 512 voxels under the rule's probability
	set(prob, g, 0.9995, mass...)
	set(prob, g, 0.9995, small...)
	set(prob, g, 0.99, faint...)
	// A vessel joined to the mass by haze under its core's level.
	set(prob, g, 0.3, [3]int{10, 5, 5}, [3]int{11, 5, 5})
	var vessel [][3]int
	for i := 12; i < 20; i++ {
		vessel = append(vessel, [3]int{i, 5, 5})
	}
	set(prob, g, 0.9995, vessel...)
	set(black, g, -1, mass...) // all dark on black-blood: the stage says no
	set(black, g, -1, small...)
	set(black, g, -1, faint...)
	r := blackOnly()
	r.MassVoxels, r.MassProb = 500, 0.999
	score, err := Rescore(prob, black, bright, nil, g.Dims, r)
	if err != nil {
		t.Fatal(err)
	}
	stageSays := float32(1 / (1 + math.Exp(4)))
	for _, c := range []struct {
		name string
		at   [3]int
		want float32
	}{{"the mass", [3]int{5, 5, 5}, 0.9995}, {"the small one", [3]int{21, 21, 21}, stageSays}, {"the faint mass", [3]int{5, 23, 5}, stageSays}} {
		if s := score[g.Index(c.at[0], c.at[1], c.at[2])]; math.Abs(float64(s-c.want)) > 1e-4 {
			t.Errorf("%s scored %g, want %g", c.name, s, c.want)
		}
	}
	// The vessel's candidate is the mass's: the stage's score of the whole
	// (the vessel is not dark on black-blood), under accept all the same.
	if s := score[g.Index(15, 5, 5)]; s >= 0.5 || s <= 0 {
		t.Errorf("the vessel beside the mass scored %g, want the stage's score, under 0.5", s)
	}
	r.MassVoxels, r.MassProb = 0, 0
	if score, _ = Rescore(prob, black, bright, nil, g.Dims, r); score[g.Index(5, 5, 5)] > 0.5 {
		t.Errorf("without the rule the mass scored %g, want the stage's %g", score[g.Index(5, 5, 5)], stageSays)
	}
}

func TestCandidateFeatures(t *testing.T) {
	g := grid(16, 16, 16, geom.Vec3{1, 1, 1}, geom.Vec3{})
	n := g.Len()
	prob, black, bright := make([]float32, n), make([]float32, n), make([]float32, n)
	set(prob, g, 0.4, box(2, 2, 2, 2)...)
	set(prob, g, 0.8, [3]int{3, 3, 3})
	set(black, g, 1, box(2, 2, 2, 2)...)
	set(black, g, 3, [3]int{3, 3, 3})
	set(bright, g, 2, box(2, 2, 2, 2)...)
	// The shell is the 6³ box around the 2³ cube less its 4³ middle: 152
	// voxels, 36 of them (the face x = 0) at 1 on black-blood. Voxels one
	// step out (x = 1) and three steps out (x = 6) are not in it.
	for k := range 6 {
		for j := range 6 {
			set(black, g, 1, [3]int{0, j, k})
		}
	}
	set(black, g, 9, [3]int{1, 3, 3}, [3]int{6, 3, 3})
	cands, err := Candidates(prob, black, bright, nil, g.Dims, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 {
		t.Fatalf("%d candidates, want 1", len(cands))
	}
	f := cands[0].Features
	if len(f) != len(RescoreFeatures) {
		t.Fatalf("%d features measured, %d named", len(f), len(RescoreFeatures))
	}
	shellMean := 36.0 / 152
	shellSD := math.Sqrt(shellMean * (1 - shellMean))
	coreBlack := (7 + 3) / 8.0 // the core is the whole cube: 0.4 is half of 0.8
	want := map[string]float64{
		"log_voxels": math.Log(9), "max_prob": 0.8, "mean_prob": (7*0.4 + 0.8) / 8,
		"mean_bright": 2, "mean_black": coreBlack, "bright_at_max": 2, "black_at_max": 3,
		"elongation": 1.0 / 3, "log_voxels_x_max_prob": math.Log(9) * 0.8,
		"core_black": coreBlack, "core_bright": 2,
		"black_contrast": coreBlack - shellMean, "bright_contrast": 2,
		"black_contrast_z": (coreBlack - shellMean) / (shellSD + 0.1), "bright_contrast_z": 2 / 0.1,
		"bright_minus_black": 2 - coreBlack,
		"logit_max":          math.Log(0.8 / (0.2 + 1e-7)), "log_core_voxels": math.Log(9),
		"ventricle_share": 0, // no brain mask: no ventricles (TestVentricleShare)
	}
	if len(want) != len(RescoreFeatures) {
		t.Fatalf("the test checks %d features of %d", len(want), len(RescoreFeatures))
	}
	for i, name := range RescoreFeatures {
		if w, ok := want[name]; !ok || math.Abs(f[i]-w) > 1e-5 {
			t.Errorf("%s = %g, want %g", name, f[i], w)
		}
	}
	if e := elongation([3][3]float64{{4, 0, 0}, {0, 0.01, 0}, {0, 0, 0.01}}); e < 0.99 {
		t.Errorf("elongation of a line %g, want near 1", e)
	}
	if _, err := Candidates(prob[:n-1], black, bright, nil, g.Dims, 0.1); err == nil {
		t.Error("a probability map shorter than its grid was accepted")
	}
}

// A stage names the features it weighs, in its own order: one weighing
// mean_black alone scores as the full-length stage with that one weight.
func TestScoreByName(t *testing.T) {
	full := blackOnly()
	one := &manifest.Rescore{Candidate: 0.1, Accept: 0.5, Features: []string{"mean_black"}, Mean: []float64{0}, Scale: []float64{1}, Weights: []float64{4}}
	f := make([]float64, len(RescoreFeatures))
	f[4], f[0], f[9] = 0.7, 5, -3
	a, err := Score(full, f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Score(one, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 / (1 + math.Exp(-4*0.7)); math.Abs(a-want) > 1e-12 || math.Abs(b-want) > 1e-12 {
		t.Fatalf("scores %g and %g, want %g", a, b, want)
	}
}

// A stage with a hidden layer scores the logistic of its tanh units over
// the standardised features: worked by hand here for two features and two
// units. Its shapes are checked before any candidate is scored.
func TestScoreHidden(t *testing.T) {
	r := &manifest.Rescore{
		Candidate: 0.1, Accept: 0.5,
		Features: []string{"mean_black", "log_voxels"},
		Mean:     []float64{0.5, 2}, Scale: []float64{0.5, 1},
		Hidden: &manifest.Layer{
			Weights: [][]float64{{1, -2}, {0.5, 0.25}},
			Bias:    []float64{0.1, -0.3},
		},
		Weights: []float64{2, -1}, Bias: 0.2,
	}
	f := make([]float64, len(RescoreFeatures))
	f[4], f[0] = 1.5, 3 // mean_black, log_voxels: standardised 2 and 1
	got, err := Score(r, f)
	if err != nil {
		t.Fatal(err)
	}
	u0, u1 := math.Tanh(0.1+2-2), math.Tanh(-0.3+1+0.25)
	if want := 1 / (1 + math.Exp(-(0.2 + 2*u0 - u1))); math.Abs(got-want) > 1e-12 {
		t.Fatalf("score %g, want %g", got, want)
	}
	r.Weights = []float64{2, -1, 3} // one a feature would be two; three is neither
	if _, err := Score(r, f); err == nil || !strings.Contains(err.Error(), "3 weights (for 2 units)") {
		t.Fatalf("err = %v, want the weights refused", err)
	}
	r.Weights = []float64{2, -1}
	r.Hidden.Weights[1] = []float64{0.5}
	if _, err := Score(r, f); err == nil || !strings.Contains(err.Error(), "hidden unit 1 has 1 weights for 2 features") {
		t.Fatalf("err = %v, want the short unit refused", err)
	}
}

// A manifest whose stage measures something else than this firmware is
// refused, not scored with the wrong numbers.
func TestRescoreRefusesOtherFeatures(t *testing.T) {
	r := blackOnly()
	r.Features = slices.Clone(RescoreFeatures)
	r.Features[4] = "mean_flair"
	g := grid(4, 4, 4, geom.Vec3{1, 1, 1}, geom.Vec3{})
	z := make([]float32, g.Len())
	if _, err := Rescore(z, z, z, nil, g.Dims, r); err == nil || !strings.Contains(err.Error(), "mean_flair") {
		t.Fatalf("err = %v, want a refusal naming mean_flair", err)
	}
}

// The operating point follows the study: a VISIBLE study with a stage gets
// the stage's score map at its accept level; a bright-only study gets the
// bright-only stage's, or without one, like a manifest without a stage, the
// probabilities at the network's threshold.
func TestOperatingMap(t *testing.T) {
	g := grid(12, 12, 12, geom.Vec3{1, 1, 1}, geom.Vec3{})
	n := g.Len()
	prob, black, bright := make([]float32, n), make([]float32, n), make([]float32, n)
	set(prob, g, 0.3, box(4, 4, 4, 2)...)
	set(black, g, 1.5, box(4, 4, 4, 2)...)
	set(bright, g, 2, box(4, 4, 4, 2)...)
	r := blackOnly()
	r.Accept = 0.7
	o := manifest.Output{Threshold: 0.6, MinComponentMM3: 2, Rescore: r}
	// The bright-only stage weighs the core's bright-blood value.
	withBright := o
	withBright.RescoreBrightOnly = &manifest.Rescore{Candidate: 0.1, Accept: 0.8, Features: []string{"core_bright"}, Mean: []float64{0}, Scale: []float64{1}, Weights: []float64{3}}
	for _, c := range []struct {
		name    string
		o       manifest.Output
		visible bool
		black   []float32
		thr     float64
		score   float64 // the map's value at the candidate; 0: the probability
	}{
		{"visible with a stage", o, true, black, 0.7, 1 / (1 + math.Exp(-4*1.5))},
		{"bright-only without its stage", o, false, black, 0.6, 0},
		{"bright-only with its stage", withBright, false, nil, 0.8, 1 / (1 + math.Exp(-3*2))},
		{"visible beside a bright-only stage", withBright, true, black, 0.7, 1 / (1 + math.Exp(-4*1.5))},
		{"no stage", manifest.Output{Threshold: 0.6, MinComponentMM3: 2}, true, black, 0.6, 0},
	} {
		m, p, err := OperatingMap(prob, c.black, bright, nil, g.Dims, c.o, c.visible)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p != (Params{Threshold: c.thr, MinComponentMM3: 2}) || OperatingPoint(c.o, c.visible) != p {
			t.Errorf("%s: operating point %+v, want threshold %g", c.name, p, c.thr)
		}
		at := m[g.Index(4, 4, 4)]
		if c.score != 0 && math.Abs(float64(at)-c.score) > 1e-6 {
			t.Errorf("%s: map %g at the candidate, want its score %g", c.name, at, c.score)
		}
		if c.score == 0 && at != 0.3 {
			t.Errorf("%s: map %g at the candidate, want the probability 0.3", c.name, at)
		}
	}
}

// A bright-only stage that weighs a black-blood measurement is refused: on a
// bright-only study it would score the zeroed channel. BrightOnlyFeatures
// are the measurements it may weigh.
func TestBrightOnlyStageRefusesBlack(t *testing.T) {
	g := grid(4, 4, 4, geom.Vec3{1, 1, 1}, geom.Vec3{})
	z := make([]float32, g.Len())
	o := manifest.Output{Threshold: 0.6, RescoreBrightOnly: blackOnly()}
	if _, _, err := OperatingMap(z, nil, z, nil, g.Dims, o, false); err == nil || !strings.Contains(err.Error(), "mean_black") {
		t.Fatalf("err = %v, want a refusal naming mean_black", err)
	}
	ok := BrightOnlyFeatures()
	if len(ok) != len(RescoreFeatures)-len(needsBlack) || slices.ContainsFunc(ok, func(f string) bool { return strings.Contains(f, "black") }) {
		t.Fatalf("BrightOnlyFeatures() = %v", ok)
	}
	o.RescoreBrightOnly = &manifest.Rescore{Candidate: 0.1, Accept: 0.5, Features: ok, Mean: make([]float64, len(ok)), Scale: slices.Repeat([]float64{1}, len(ok)), Weights: make([]float64, len(ok))}
	if _, _, err := OperatingMap(z, nil, z, nil, g.Dims, o, false); err != nil {
		t.Fatal(err)
	}
}
