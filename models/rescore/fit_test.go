package main

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"metsentry/firmware/detect"
	"metsentry/runtime/manifest"
)

// Data drawn from a known logistic model come back with its weights (in the
// standardised space, scaled back) within sampling error.
func TestFitRecoversAKnownModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	wTrue := []float64{2, -1, 0}
	bTrue := 0.5
	var x [][]float64
	var y []bool
	for range 20000 {
		r := []float64{rng.NormFloat64(), 3 + 2*rng.NormFloat64(), rng.NormFloat64()}
		z := bTrue
		for i, w := range wTrue {
			z += w * r[i]
		}
		x = append(x, r)
		y = append(y, rng.Float64() < sigmoid(z))
	}
	m, err := fit(x, y, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	// Raw-space weights: w/scale; bias: b - Σ w·mean/scale.
	b := m.Bias
	for i, w := range m.Weights {
		raw := w / m.Scale[i]
		b -= w * m.Mean[i] / m.Scale[i]
		if math.Abs(raw-wTrue[i]) > 0.1 {
			t.Errorf("weight %d = %.3f, want %.3f", i, raw, wTrue[i])
		}
	}
	if math.Abs(b-bTrue) > 0.15 {
		t.Errorf("bias %.3f, want %.3f", b, bTrue)
	}
}

// A hidden layer learns what no line can: labels set by the sign of
// x0·x1 (two opposite quadrants), which a logistic model classifies no
// better than a coin. Reproducible: the same seed fits the same numbers.
func TestFitMLPLearnsWhatALineCannot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var x [][]float64
	var y []bool
	for range 2000 {
		r := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		x, y = append(x, r), append(y, r[0]*r[1] > 0)
	}
	// Both fits are scored as the appliance scores them (detect.Score),
	// the three columns standing for the first three measurements.
	right := func(r *manifest.Rescore) float64 {
		r.Features = detect.RescoreFeatures[:3]
		n := 0
		for i, row := range x {
			f := make([]float64, len(detect.RescoreFeatures))
			copy(f, row)
			sc, err := detect.Score(r, f)
			if err != nil {
				t.Fatal(err)
			}
			if (sc >= 0.5) == y[i] {
				n++
			}
		}
		return float64(n) / float64(len(x))
	}
	lin, err := fit(x, y, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	linear := right(&manifest.Rescore{Mean: lin.Mean, Scale: lin.Scale, Weights: lin.Weights, Bias: lin.Bias})
	m, err := fitMLP(x, y, 8, 0.1, 2000, 7)
	if err != nil {
		t.Fatal(err)
	}
	hidden := right(&manifest.Rescore{Mean: m.Mean, Scale: m.Scale, Hidden: &manifest.Layer{Weights: m.W, Bias: m.B}, Weights: m.Weights, Bias: m.Bias})
	if linear > 0.6 || hidden < 0.9 {
		t.Fatalf("right: logistic %.1f%%, hidden layer %.1f%%; want under 60%% and at least 90%%", 100*linear, 100*hidden)
	}
	again, err := fitMLP(x, y, 8, 0.1, 2000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, m) {
		t.Fatal("the same seed fitted other numbers")
	}
	if _, err := fitMLP(x, y, 0, 1, 10, 7); err == nil {
		t.Fatal("fitted a layer of no units")
	}
}

func TestFitRefusesOneClass(t *testing.T) {
	if _, err := fit([][]float64{{1}, {2}}, []bool{true, true}, 1); err == nil {
		t.Fatal("fitted candidates that are all lesions")
	}
	if _, err := fit(nil, nil, 1); err == nil {
		t.Fatal("fitted nothing")
	}
}

func TestSolve(t *testing.T) {
	h := [][]float64{{0, 2, 1}, {1, 1, 1}, {2, 1, 3}}
	want := []float64{1, -2, 3}
	g := make([]float64, 3)
	for i := range h {
		g[i] = dot(h[i], want)
	}
	s, err := solve(h, g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(s[i]-want[i]) > 1e-12 {
			t.Fatalf("solve = %v, want %v", s, want)
		}
	}
}

// -dump writes a header of every measurement and "lesion", then one row a
// candidate, that encoding/csv reads back.
func TestWriteCSV(t *testing.T) {
	n := len(detect.RescoreFeatures)
	rows := [][]float64{make([]float64, n), make([]float64, n)}
	rows[0][0], rows[1][n-1] = 1.5, -0.25
	path := filepath.Join(t.TempDir(), "c.csv")
	if err := writeCSV(path, rows, []bool{true, false}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][0] != detect.RescoreFeatures[0] || recs[0][n] != "lesion" {
		t.Fatalf("header %v, %d records; want the measurements and lesion, 3 records", recs[0], len(recs))
	}
	if recs[1][0] != "1.5" || recs[1][n] != "1" || recs[2][n-1] != "-0.25" || recs[2][n] != "0" {
		t.Errorf("rows %v, %v", recs[1], recs[2])
	}
}

// What -dump writes, -load reads back; a file of other measurements or a
// label that is not 0 or 1 is refused.
func TestReadCSV(t *testing.T) {
	n := len(detect.RescoreFeatures)
	rows := [][]float64{make([]float64, n), make([]float64, n)}
	rows[0][0], rows[1][n-1] = 1.5, -0.25
	dir := t.TempDir()
	path := filepath.Join(dir, "c.csv")
	if err := writeCSV(path, rows, []bool{true, false}); err != nil {
		t.Fatal(err)
	}
	got, y, err := readCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) || !reflect.DeepEqual(y, []bool{true, false}) {
		t.Fatalf("read %v %v", got, y)
	}
	other := filepath.Join(dir, "other.csv")
	os.WriteFile(other, []byte("a,b,lesion\n1,2,0\n"), 0o644)
	if _, _, err := readCSV(other); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("err = %v, want the header refused", err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(other, []byte(strings.Replace(string(b), ",1\n", ",yes\n", 1)), 0o644)
	if _, _, err := readCSV(other); err == nil || !strings.Contains(err.Error(), `label "yes"`) {
		t.Fatalf("err = %v, want the label refused", err)
	}
}
