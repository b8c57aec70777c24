package detect

import (
	"math"
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
	score, err := Rescore(prob, black, bright, g.Dims, r)
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

func TestCandidateFeatures(t *testing.T) {
	g := grid(16, 16, 16, geom.Vec3{1, 1, 1}, geom.Vec3{})
	n := g.Len()
	prob, black, bright := make([]float32, n), make([]float32, n), make([]float32, n)
	set(prob, g, 0.4, box(2, 2, 2, 2)...)
	set(prob, g, 0.8, [3]int{3, 3, 3})
	set(black, g, 1, box(2, 2, 2, 2)...)
	set(black, g, 3, [3]int{3, 3, 3})
	set(bright, g, 2, box(2, 2, 2, 2)...)
	cands, err := Candidates(prob, black, bright, g.Dims, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 {
		t.Fatalf("%d candidates, want 1", len(cands))
	}
	f := cands[0].Features
	want := []float64{math.Log(9), 0.8, (7*0.4 + 0.8) / 8, 2, (7 + 3) / 8.0, 2, 3, 1.0 / 3, math.Log(9) * 0.8}
	for i, w := range want {
		if math.Abs(f[i]-w) > 1e-6 {
			t.Errorf("%s = %g, want %g", RescoreFeatures[i], f[i], w)
		}
	}
	if e := elongation([3][3]float64{{4, 0, 0}, {0, 0.01, 0}, {0, 0, 0.01}}); e < 0.99 {
		t.Errorf("elongation of a line %g, want near 1", e)
	}
	if _, err := Candidates(prob[:n-1], black, bright, g.Dims, 0.1); err == nil {
		t.Error("a probability map shorter than its grid was accepted")
	}
}

// A manifest whose stage measures something else than this firmware is
// refused, not scored with the wrong numbers.
func TestRescoreRefusesOtherFeatures(t *testing.T) {
	r := blackOnly()
	r.Features = append([]string(nil), RescoreFeatures...)
	r.Features[4] = "mean_flair"
	g := grid(4, 4, 4, geom.Vec3{1, 1, 1}, geom.Vec3{})
	z := make([]float32, g.Len())
	if _, err := Rescore(z, z, z, g.Dims, r); err == nil || !strings.Contains(err.Error(), "mean_flair") {
		t.Fatalf("err = %v, want a refusal naming mean_flair", err)
	}
}
