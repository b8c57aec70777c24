package infer

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// boxEngine is a fake model: per output channel, a sum over a (2r+1)³ box of
// every input channel with zero padding, applied twice, with fixed per-channel
// weights. Its receptive field reaches 2r voxels, so Margin 2r makes tiles
// exact. Zero input gives zero output, as an empty tile should.
type boxEngine struct {
	r, outC int
	calls   int
	onRun   func(call int)
	shapes  [][5]int64
}

func (e *boxEngine) Provider() string { return "fake" }
func (e *boxEngine) Close() error     { return nil }

func (e *boxEngine) Run(ctx context.Context, in []float32, shape [5]int64) ([]float32, error) {
	e.calls++
	e.shapes = append(e.shapes, shape)
	if e.onRun != nil {
		e.onRun(e.calls)
	}
	c := int(shape[1])
	d := [3]int{int(shape[2]), int(shape[3]), int(shape[4])}
	n := d[0] * d[1] * d[2]
	mix := make([]float32, n)
	for ch := range c {
		for i := range n {
			mix[i] += in[ch*n+i] * float32(ch+1) / float32(c)
		}
	}
	once := box(box(mix, d, e.r), d, e.r)
	out := make([]float32, e.outC*n)
	for o := range e.outC {
		for i, v := range once {
			out[o*n+i] = v * float32(o+1) * 0.01
		}
	}
	return out, nil
}

func box(v []float32, d [3]int, r int) []float32 {
	out := make([]float32, len(v))
	for z := range d[0] {
		for y := range d[1] {
			for x := range d[2] {
				var s float32
				for dz := -r; dz <= r; dz++ {
					for dy := -r; dy <= r; dy++ {
						for dx := -r; dx <= r; dx++ {
							zz, yy, xx := z+dz, y+dy, x+dx
							if zz < 0 || yy < 0 || xx < 0 || zz >= d[0] || yy >= d[1] || xx >= d[2] {
								continue
							}
							s += v[(zz*d[1]+yy)*d[2]+xx]
						}
					}
				}
				out[(z*d[1]+y)*d[2]+x] = s / 27
			}
		}
	}
	return out
}

func volume(c int, d [3]int) []float32 {
	v := make([]float32, c*d[0]*d[1]*d[2])
	for i := range v {
		v[i] = float32(math.Sin(float64(i)*0.61)) + 0.3
	}
	return v
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

func TestTilesMatchWholeVolume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dims   [3]int
		plan   Plan
		exact  bool
		minTil int
	}{
		{"cut, margin covers RF", [3]int{19, 23, 30}, Plan{Multiple: 2, Patch: [3]int{12, 12, 12}, Overlap: [3]int{4, 4, 6}, Margin: [3]int{2, 2, 2}, ForceTiles: true}, true, 8},
		{"blend, margin covers RF", [3]int{19, 23, 30}, Plan{Multiple: 2, Patch: [3]int{12, 14, 16}, Overlap: [3]int{8, 8, 8}, Margin: [3]int{2, 2, 2}, Blend: true, ForceTiles: true}, true, 8},
		{"multiple 4, uneven", [3]int{17, 9, 33}, Plan{Multiple: 4, Patch: [3]int{12, 8, 16}, Overlap: [3]int{4, 4, 8}, Margin: [3]int{2, 2, 2}, Blend: true, ForceTiles: true}, true, 8},
		{"margin smaller than RF", [3]int{19, 23, 30}, Plan{Multiple: 2, Patch: [3]int{12, 12, 12}, Overlap: [3]int{2, 2, 2}, Margin: [3]int{1, 1, 1}, ForceTiles: true}, false, 8},
		{"budget forces tiles", [3]int{20, 20, 20}, Plan{Multiple: 2, Overlap: [3]int{4, 4, 4}, Margin: [3]int{2, 2, 2}, BudgetBytes: 12 * 12 * 12 * 100, BytesPerVoxel: 100}, true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := volume(2, tc.dims)
			shape := [5]int64{1, 2, int64(tc.dims[0]), int64(tc.dims[1]), int64(tc.dims[2])}
			e := &boxEngine{r: 1, outC: 2}
			want, wshape, wst, err := Predict(context.Background(), e, vol, shape, Plan{Multiple: tc.plan.Multiple})
			if err != nil {
				t.Fatal(err)
			}
			if !wst.Whole || e.calls != 1 {
				t.Fatalf("reference pass: stats %+v, %d calls", wst, e.calls)
			}
			got, gshape, st, err := Predict(context.Background(), e, vol, shape, tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			if gshape != wshape || gshape != [5]int64{1, 2, shape[2], shape[3], shape[4]} {
				t.Fatalf("shape %v, whole %v", gshape, wshape)
			}
			if st.Whole || st.Tiles < tc.minTil {
				t.Fatalf("stats %+v: want at least %d tiles", st, tc.minTil)
			}
			for _, s := range e.shapes[1:] {
				for a := 2; a < 5; a++ {
					if s[a]%int64(tc.plan.Multiple) != 0 {
						t.Fatalf("tile shape %v not a multiple of %d", s, tc.plan.Multiple)
					}
				}
			}
			d := maxDiff(got, want)
			if tc.exact && d > 1e-5 {
				t.Fatalf("max |tiled - whole| = %g, want <= 1e-5", d)
			}
			if !tc.exact && d < 1e-3 {
				t.Fatalf("max |tiled - whole| = %g: a margin below the receptive field should show", d)
			}
		})
	}
}

func TestAxisWeightsPartitionOfUnity(t *testing.T) {
	for _, blend := range []bool{false, true} {
		for _, tc := range []struct{ n, patch, overlap, margin, mult int }{
			{40, 16, 6, 2, 2}, {33, 12, 4, 2, 1}, {64, 32, 16, 4, 8}, {17, 8, 6, 3, 1},
			{38, 30, 24, 10, 2}, {46, 30, 24, 10, 2}, {100, 30, 20, 10, 2},
		} {
			st := starts(tc.n, tc.patch, tc.overlap, tc.mult)
			w := axisWeights(st, tc.patch, tc.margin, blend)
			sum := make([]float64, tc.n)
			for k, s := range st {
				if s%tc.mult != 0 && k != len(st)-1 {
					t.Fatalf("start %d not a multiple of %d", s, tc.mult)
				}
				for i, v := range w[k] {
					sum[s+i] += float64(v)
					cutLo := k > 0 && i < tc.margin
					cutHi := k < len(st)-1 && i >= tc.patch-tc.margin
					if (cutLo || cutHi) && v != 0 {
						t.Fatalf("%+v blend %v: tile %d weight %g at %d, inside the margin", tc, blend, k, v, i)
					}
				}
			}
			for g, s := range sum {
				if math.Abs(s-1) > 1e-6 {
					t.Fatalf("%+v blend %v: weights at %d sum to %g", tc, blend, g, s)
				}
			}
		}
	}
}

func TestCancelStopsWithinOneTile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &boxEngine{r: 1, outC: 1, onRun: func(call int) {
		if call == 2 {
			cancel()
		}
	}}
	dims := [3]int{24, 24, 24}
	_, _, st, err := Predict(ctx, e, volume(1, dims), [5]int64{1, 1, 24, 24, 24},
		Plan{Multiple: 2, Patch: [3]int{12, 12, 12}, Overlap: [3]int{4, 4, 4}, Margin: [3]int{2, 2, 2}, ForceTiles: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if e.calls != 2 {
		t.Fatalf("engine ran %d tiles of %d; cancelled during tile 2, want 2", e.calls, st.Tiles)
	}
	if !strings.Contains(err.Error(), "after 2 of") {
		t.Fatalf("error %q does not say how far it got", err)
	}
}

func TestSkipEmptyTiles(t *testing.T) {
	dims := [3]int{24, 24, 48}
	vol := volume(2, dims)
	n := dims[0] * dims[1] * dims[2]
	for ch := range 2 { // zero the half x >= 24: outside the "head"
		for i := range n {
			if i%dims[2] >= 24 {
				vol[ch*n+i] = 0
			}
		}
	}
	shape := [5]int64{1, 2, 24, 24, 48}
	plan := Plan{Multiple: 2, Patch: [3]int{16, 16, 16}, Overlap: [3]int{4, 4, 4}, Margin: [3]int{2, 2, 2}, ForceTiles: true}
	all := &boxEngine{r: 1, outC: 1}
	want, _, stAll, err := Predict(context.Background(), all, vol, shape, plan)
	if err != nil {
		t.Fatal(err)
	}
	plan.SkipEmpty = true
	skip := &boxEngine{r: 1, outC: 1}
	got, _, st, err := Predict(context.Background(), skip, vol, shape, plan)
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped == 0 || skip.calls != st.Tiles-st.Skipped || skip.calls >= all.calls || stAll.Skipped != 0 {
		t.Fatalf("skip stats %+v with %d runs; without skipping %d runs", st, skip.calls, all.calls)
	}
	if d := maxDiff(got, want); d > 1e-6 {
		t.Fatalf("skipping empty tiles changed the output by %g", d)
	}

	empty := make([]float32, 2*n)
	plan.EmptyValue, plan.OutChannels = 0.25, 1
	e := &boxEngine{r: 1, outC: 1}
	out, oshape, st, err := Predict(context.Background(), e, empty, shape, plan)
	if err != nil {
		t.Fatal(err)
	}
	if e.calls != 0 || st.Skipped != st.Tiles || oshape[1] != 1 {
		t.Fatalf("empty volume: %d runs, stats %+v, shape %v", e.calls, st, oshape)
	}
	for i, v := range out {
		if math.Abs(float64(v)-0.25) > 1e-6 {
			t.Fatalf("empty volume: out[%d] = %g, want the empty value 0.25", i, v)
		}
	}
}

func TestPredictRejects(t *testing.T) {
	e := &boxEngine{r: 1, outC: 1}
	vol := volume(1, [3]int{8, 8, 8})
	for _, tc := range []struct {
		name  string
		vol   []float32
		shape [5]int64
		plan  Plan
		want  string
	}{
		{"overlap below margins", vol, [5]int64{1, 1, 8, 8, 8}, Plan{Multiple: 1, Overlap: [3]int{2, 2, 2}, Margin: [3]int{2, 2, 2}}, "less than 2×margin"},
		{"zero multiple", vol, [5]int64{1, 1, 8, 8, 8}, Plan{}, "multiple 0"},
		{"patch not a multiple", vol, [5]int64{1, 1, 8, 8, 8}, Plan{Multiple: 4, Patch: [3]int{6, 8, 8}}, "patch 6"},
		{"short input", vol[:100], [5]int64{1, 1, 8, 8, 8}, Plan{Multiple: 1}, "has 100 values"},
		{"batch of two", vol, [5]int64{2, 1, 4, 8, 8}, Plan{Multiple: 1}, "expected [1, C, D, H, W]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := Predict(context.Background(), e, tc.vol, tc.shape, tc.plan)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
