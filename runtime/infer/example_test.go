package infer_test

import (
	"context"
	"fmt"

	"metsentry/runtime/infer"
)

// halve is a stand-in model: its output is half its first input channel.
type halve struct{ runs int }

func (h *halve) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	h.runs++
	n := int(shape[2] * shape[3] * shape[4])
	out := make([]float32, n)
	for i := range out {
		out[i] = in[i] / 2
	}
	return out, nil
}
func (h *halve) Provider() string { return "cpu" }
func (h *halve) Close() error     { return nil }

// A volume too big for the budget runs in tiles; the result is the same as
// one pass.
func ExamplePredict() {
	const d, h, w = 40, 40, 40
	vol := make([]float32, 2*d*h*w)
	for i := range vol {
		vol[i] = 1
	}
	e := &halve{}
	plan := infer.Plan{
		Multiple:      8,
		Overlap:       [3]int{8, 8, 8},
		Margin:        [3]int{4, 4, 4},
		Blend:         true,
		BudgetBytes:   24 * 24 * 24 * 300, // room for a 24³ pass
		BytesPerVoxel: 300,
		SkipEmpty:     true,
	}
	out, shape, st, err := infer.Predict(context.Background(), e, vol, [5]int64{1, 2, d, h, w}, plan)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(shape, st.Whole, st.Patch, st.Tiles, e.runs, out[0], out[len(out)-1])
	// Output: [1 1 40 40 40] false [24 24 24] 8 8 0.5 0.5
}
