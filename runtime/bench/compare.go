package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Compared is one model's timings in a Compare run.
type Compared struct {
	Model  string    `json:"model"`
	TimesS []float64 `json:"times_s"`
	// Ratio is this model's median over the first model's.
	Ratio float64 `json:"ratio"`
}

// Median is the model's median seconds per pass.
func (c Compared) Median() float64 { return median(c.TimesS) }

// Compare times whole-volume fp32 passes of several ONNX models (2 input
// channels, the bench input of size dims) in one process, taking turns: each
// round runs every model once, so a machine whose speed drifts (other jobs,
// thermal limits) slows all of them alike and the ratios to the first model
// hold where the seconds do not. Each model runs once untimed first. ONNX
// Runtime must be initialised (ort.Init).
func Compare(ctx context.Context, models []string, dims [3]int, threads, rounds int, w io.Writer) ([]Compared, error) {
	if len(models) == 0 || rounds < 1 || threads < 1 {
		return nil, errors.New("bench: Compare needs at least one model, one round and one thread")
	}
	in := Input(dims) // one input for all: ONNX Runtime only reads it
	passes := make([]*Pass, 0, len(models))
	defer func() {
		for _, p := range passes {
			p.Close()
		}
	}()
	for _, m := range models {
		p, err := newPass(ctx, m, dims, threads, in)
		if err != nil {
			return nil, err
		}
		passes = append(passes, p)
	}
	out := make([]Compared, len(models))
	for r := range rounds {
		for i, p := range passes {
			t, err := p.Time(ctx)
			if err != nil {
				return nil, err
			}
			out[i].TimesS = append(out[i].TimesS, t)
		}
		if w != nil {
			fmt.Fprintf(w, "round %d of %d done\n", r+1, rounds)
		}
	}
	first := median(out[0].TimesS)
	for i := range out {
		out[i].Model = models[i]
		out[i].Ratio = median(out[i].TimesS) / first
	}
	return out, nil
}

// PrintCompared writes Compare's result as a table.
func PrintCompared(w io.Writer, dims [3]int, threads int, rows []Compared) {
	fmt.Fprintf(w, "input 1x2x%dx%dx%d, %d threads, rounds taken in turn; ratio = median / first model's median\n\n", dims[0], dims[1], dims[2], threads)
	fmt.Fprintln(w, "| model | median s | runs s | ratio |")
	fmt.Fprintln(w, "| --- | ---: | --- | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.2f | %s | %.2f |\n", filepath.Base(r.Model), r.Median(), formatTimes(r.TimesS), r.Ratio)
	}
}

func formatTimes(v []float64) string {
	parts := make([]string, len(v))
	for i, t := range v {
		parts[i] = fmt.Sprintf("%.2f", t)
	}
	return strings.Join(parts, " ")
}
