package volume

import (
	"math"
	"math/rand/v2"
	"testing"
)

// statsRef is maskedStats by its definition: one voxel after another.
func statsRef(data []float32, mask []uint8) stats {
	st := stats{min: float32(math.Inf(1)), max: float32(math.Inf(-1))}
	for i, v := range data {
		if mask != nil && mask[i] == 0 {
			continue
		}
		st.n++
		st.sum += float64(v)
		st.ssq += float64(v) * float64(v)
		st.min, st.max = min(st.min, v), max(st.max, v)
	}
	return st
}

// maskedStats splits the work between goroutines and lanes; what it returns
// must be the definition's, to float64 rounding, with and without a mask,
// whatever the length's remainder.
func TestMaskedStatsMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 3, 4, 7, 1000, 100003} {
		data := make([]float32, n)
		mask := make([]uint8, n)
		for i := range data {
			data[i] = float32(r.NormFloat64()*300 + 1000)
			if r.IntN(3) > 0 {
				mask[i] = uint8(1 + r.IntN(2)) // any nonzero value is set
			}
		}
		for _, m := range [][]uint8{nil, mask} {
			got, want := maskedStats(data, m), statsRef(data, m)
			if got.n != want.n || got.min != want.min || got.max != want.max {
				t.Fatalf("n=%d mask=%v: got n %d range [%g, %g], want n %d range [%g, %g]", n, m != nil, got.n, got.min, got.max, want.n, want.min, want.max)
			}
			for _, p := range [][2]float64{{got.sum, want.sum}, {got.ssq, want.ssq}} {
				if math.Abs(p[0]-p[1]) > 1e-12*math.Abs(p[1]) {
					t.Fatalf("n=%d mask=%v: sums %v, want %v", n, m != nil, []float64{got.sum, got.ssq}, []float64{want.sum, want.ssq})
				}
			}
		}
	}
}

func BenchmarkMaskedStats(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	data := make([]float32, 8<<20)
	mask := make([]uint8, len(data))
	for i := range data {
		data[i] = float32(r.NormFloat64()*300 + 1000)
		// Runs of set and unset voxels, as a head mask has.
		if (i/200)%3 != 0 {
			mask[i] = 1
		}
	}
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			maskedStats(data, nil)
		}
	})
	b.Run("masked", func(b *testing.B) {
		for b.Loop() {
			maskedStats(data, mask)
		}
	})
}

// A NaN where the mask is set makes the range NaN (as the min and max
// builtins do); one where it is unset is not looked at.
func TestMaskedStatsNaN(t *testing.T) {
	data := []float32{3, 1, 4, 1, 5, 9, 2, 6, 5}
	mask := []uint8{1, 1, 1, 1, 1, 1, 1, 0, 1}
	for _, at := range []int{0, 5, 7, 8} {
		d := append([]float32(nil), data...)
		d[at] = float32(math.NaN())
		for _, m := range [][]uint8{nil, mask} {
			got, want := maskedStats(d, m), statsRef(d, m)
			gotNaN, wantNaN := math.IsNaN(float64(got.min)) && math.IsNaN(float64(got.max)), math.IsNaN(float64(want.min))
			if gotNaN != wantNaN || (!wantNaN && (got.min != want.min || got.max != want.max)) || got.n != want.n {
				t.Errorf("NaN at %d, mask %v: got n %d range [%g, %g], want n %d range [%g, %g]", at, m != nil, got.n, got.min, got.max, want.n, want.min, want.max)
			}
		}
	}
}
