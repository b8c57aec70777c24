package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
	m, err := standardise(x, y)
	if err != nil {
		return logistic{}, err
	}
	d := len(x[0])
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

// standardise checks the rows and labels and returns a model holding each
// feature's mean and sd over the rows (1 for a feature without variation),
// its weights zero.
func standardise(x [][]float64, y []bool) (logistic, error) {
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

// mlp is a fitted stage with a hidden layer of tanh units: standardisation,
// the layer (W[k], B[k] for unit k) and the output unit's weights.
type mlp struct {
	Mean, Scale []float64
	W           [][]float64
	B           []float64
	Weights     []float64
	Bias        float64
}

// fitMLP fits a stage with a hidden layer of hidden tanh units to the rows
// of x (standardised as fit does) by full-batch Adam (rate 0.01, epochs
// steps) on the mean log loss plus l2·Σw²/n over both layers' weights (not
// the biases): the penalty per candidate, so l2 means the same whatever
// the number of studies. The start is drawn from seed (uniform within
// ±1/√fan-in, as PyTorch's Linear), so a fit is reproducible.
func fitMLP(x [][]float64, y []bool, hidden int, l2 float64, epochs int, seed uint64) (mlp, error) {
	if hidden < 1 {
		return mlp{}, fmt.Errorf("rescore: %d hidden units", hidden)
	}
	lin, err := standardise(x, y)
	if err != nil {
		return mlp{}, err
	}
	n, d := len(x), len(x[0])
	z := make([][]float64, n)
	for i, r := range x {
		z[i] = make([]float64, d)
		for j, v := range r {
			z[i][j] = (v - lin.Mean[j]) / lin.Scale[j]
		}
	}
	// The parameters, flat: W (hidden×d), B (hidden), V (hidden), c.
	np := hidden*d + 2*hidden + 1
	p := make([]float64, np)
	rng := rand.New(rand.NewPCG(seed, 0x6d657473656e7472))
	uniform := func(fanIn int) float64 { return (2*rng.Float64() - 1) / math.Sqrt(float64(fanIn)) }
	for k := range hidden*d + hidden {
		p[k] = uniform(d)
	}
	for k := hidden*d + hidden; k < np; k++ {
		p[k] = uniform(hidden)
	}
	iW, iB, iV, iC := 0, hidden*d, hidden*d+hidden, np-1
	m1, m2, g := make([]float64, np), make([]float64, np), make([]float64, np)
	u := make([]float64, hidden)
	const rate, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
	for step := 1; step <= epochs; step++ {
		clear(g)
		for i, r := range z {
			out := p[iC]
			for k := range hidden {
				a := p[iB+k]
				row := p[iW+k*d : iW+(k+1)*d]
				for j, v := range r {
					a += row[j] * v
				}
				u[k] = math.Tanh(a)
				out += p[iV+k] * u[k]
			}
			t := 0.0
			if y[i] {
				t = 1
			}
			e := (sigmoid(out) - t) / float64(n) // d(mean log loss)/d(out)
			g[iC] += e
			for k := range hidden {
				g[iV+k] += e * u[k]
				ea := e * p[iV+k] * (1 - u[k]*u[k])
				g[iB+k] += ea
				row := g[iW+k*d : iW+(k+1)*d]
				for j, v := range r {
					row[j] += ea * v
				}
			}
		}
		for k := iW; k < iB; k++ {
			g[k] += 2 * l2 * p[k] / float64(n)
		}
		for k := iV; k < iC; k++ {
			g[k] += 2 * l2 * p[k] / float64(n)
		}
		c1, c2 := 1-math.Pow(beta1, float64(step)), 1-math.Pow(beta2, float64(step))
		for k := range p {
			m1[k] = beta1*m1[k] + (1-beta1)*g[k]
			m2[k] = beta2*m2[k] + (1-beta2)*g[k]*g[k]
			p[k] -= rate * (m1[k] / c1) / (math.Sqrt(m2[k]/c2) + eps)
		}
	}
	for _, v := range p {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return mlp{}, errors.New("rescore: the hidden-layer fit diverged")
		}
	}
	m := mlp{Mean: lin.Mean, Scale: lin.Scale, B: slices.Clone(p[iB:iV]), Weights: slices.Clone(p[iV:iC]), Bias: p[iC]}
	for k := range hidden {
		m.W = append(m.W, slices.Clone(p[iW+k*d:iW+(k+1)*d]))
	}
	return m, nil
}
