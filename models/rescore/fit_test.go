package main

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/detect"
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
