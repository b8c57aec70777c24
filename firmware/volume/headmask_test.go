package volume

import (
	"math/rand/v2"
	"testing"
)

// denoiseMask keeps a solid block (its faces included: a face voxel has 18
// of 27 neighbours set) and clears scattered voxels, never setting one.
func TestDenoiseMask(t *testing.T) {
	dims := [3]int{40, 40, 40}
	at := func(i, j, k int) int { return i + dims[0]*(j+dims[1]*k) }
	mask := make([]uint8, 40*40*40)
	block := func(i, j, k int) bool { return i >= 10 && i < 30 && j >= 10 && j < 30 && k >= 10 && k < 30 }
	rng := rand.New(rand.NewPCG(3, 4))
	scattered := 0
	for k := range 40 {
		for j := range 40 {
			for i := range 40 {
				switch {
				case block(i, j, k):
					mask[at(i, j, k)] = 1
				case rng.Float64() < 0.1:
					mask[at(i, j, k)] = 1
					scattered++
				}
			}
		}
	}
	before := append([]uint8(nil), mask...)
	denoiseMask(mask, dims)
	kept, lost, noise := 0, 0, 0
	for k := range 40 {
		for j := range 40 {
			for i := range 40 {
				v := mask[at(i, j, k)]
				if v != 0 && before[at(i, j, k)] == 0 {
					t.Fatalf("voxel (%d,%d,%d) was set", i, j, k)
				}
				edge := min(i-10, 29-i, j-10, 29-j, k-10, 29-k)
				switch {
				case block(i, j, k) && v != 0:
					kept++
				case block(i, j, k) && edge > 0:
					lost++ // inside the block, not on a face or edge
				case !block(i, j, k) && v != 0 && min(i-9, 30-i, j-9, 30-j, k-9, 30-k) < 0:
					noise++ // scattered, away from the block
				}
			}
		}
	}
	if lost != 0 {
		t.Errorf("%d voxels inside the block cleared", lost)
	}
	// The block's 12 edges (8 neighbours of 27 set plus the noise) may go;
	// its faces stay.
	if want := 20*20*20 - 12*20; kept < want {
		t.Errorf("%d of the block's 8000 voxels kept, want at least %d", kept, want)
	}
	if noise != 0 {
		t.Errorf("%d of %d scattered voxels kept", noise, scattered)
	}
}
