package main

import (
	"errors"
	"fmt"
	"math"
)

// logistic is a fitted model: standardisation and weights.
type logistic struct {
	Mean, Scale, Weights []float64
	Bias                 float64
}

// fit fits an L2-regularised logistic regression of y on the rows of x by
// Newton's method, on features standardised to mean 0 and sd 1 (the penalty
// l2 applies to the weights, not the bias).
func fit(x [][]float64, y []bool, l2 float64) (logistic, error) {
	if len(x) == 0 || len(x) != len(y) {
		return logistic{}, fmt.Errorf("rescore: %d rows and %d labels", len(x), len(y))
	}
	d := len(x[0])
	var pos int
	for _, v := range y {
		if v {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		return logistic{}, errors.New("rescore: the candidates are all of one class; nothing to fit")
	}
	m := logistic{Mean: make([]float64, d), Scale: make([]float64, d), Weights: make([]float64, d)}
	for _, r := range x {
		if len(r) != d {
			return logistic{}, fmt.Errorf("rescore: rows of %d and %d features", d, len(r))
		}
		for j, v := range r {
			m.Mean[j] += v
		}
	}
	n := float64(len(x))
	for j := range d {
		m.Mean[j] /= n
	}
	for _, r := range x {
		for j, v := range r {
			m.Scale[j] += (v - m.Mean[j]) * (v - m.Mean[j])
		}
	}
	for j := range d {
		m.Scale[j] = math.Sqrt(m.Scale[j] / n)
		if !(m.Scale[j] > 1e-9) {
			m.Scale[j] = 1
		}
	}
	// z rows with a trailing 1 for the bias.
	z := make([][]float64, len(x))
	for i, r := range x {
		z[i] = make([]float64, d+1)
		for j, v := range r {
			z[i][j] = (v - m.Mean[j]) / m.Scale[j]
		}
		z[i][d] = 1
	}
	w := make([]float64, d+1)
	for range 100 {
		g := make([]float64, d+1)
		h := make([][]float64, d+1)
		for a := range h {
			h[a] = make([]float64, d+1)
		}
		for i, r := range z {
			p := sigmoid(dot(w, r))
			t := 0.0
			if y[i] {
				t = 1
			}
			for a := range r {
				g[a] += (p - t) * r[a]
				for b := range r {
					h[a][b] += p * (1 - p) * r[a] * r[b]
				}
			}
		}
		for a := range d {
			g[a] += l2 * w[a]
			h[a][a] += l2
		}
		h[d][d] += 1e-9
		step, err := solve(h, g)
		if err != nil {
			return logistic{}, err
		}
		change := 0.0
		for a := range w {
			w[a] -= step[a]
			change = max(change, math.Abs(step[a]))
		}
		if change < 1e-10 {
			break
		}
	}
	copy(m.Weights, w[:d])
	m.Bias = w[d]
	return m, nil
}

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// solve solves h·s = g by Gaussian elimination with partial pivoting.
func solve(h [][]float64, g []float64) ([]float64, error) {
	n := len(g)
	a := make([][]float64, n)
	for i := range a {
		a[i] = append(append([]float64(nil), h[i]...), g[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-15 {
			return nil, errors.New("rescore: singular Hessian (a feature without variation?)")
		}
		a[c], a[p] = a[p], a[c]
		for r := c + 1; r < n; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k <= n; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	s := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		v := a[r][n]
		for k := r + 1; k < n; k++ {
			v -= a[r][k] * s[k]
		}
		s[r] = v / a[r][r]
	}
	return s, nil
}
