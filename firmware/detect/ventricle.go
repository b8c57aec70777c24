package detect

import (
	"math"
	"slices"
)

// The ventricles' zone: where the choroid plexus lies. The plexus enhances
// on both VISIBLE images (it is tissue, not flowing blood), is round enough
// in a slice to pass for a lesion, and sits in the lateral ventricles'
// atria and the third and fourth ventricles: only its place tells it apart.
// The zone is measured on the model grid (1 mm in every shipped manifest, so
// the distances below are in voxels), from the brain mask the appliance
// already finds (volume.ModelInput.BrainMask: closed, its enclosed holes
// filled, so the ventricles are inside it) and the bright-blood channel.
const (
	// ventricleDepth: ventricle CSF lies at least this many voxels inside
	// the brain mask (the mask is widened by 4 mm past the brain), which
	// leaves out the sulci and the CSF around the brain.
	ventricleDepth = 15
	// ventricleMinVoxels: a dark piece deep in the brain is a ventricle
	// when it holds at least 1 cm³.
	ventricleMinVoxels = 1000
	// ventricleReach: the zone reaches this far past ventricle CSF, over
	// the plexus (a few mm thick) and the partial volume around it.
	ventricleReach = 3
)

// VentricleZone marks the voxels within ventricleReach of ventricle CSF:
// brain-mask voxels at least ventricleDepth inside the mask whose
// bright-blood value lies further below the grey-matter level than half the
// step from grey to white matter (the levels of a two-class k-means of
// those deep voxels: on T1, CSF lies about a full step below grey matter),
// in 26-connected pieces of at least ventricleMinVoxels. A nil or empty brain
// mask gives nil: no zone.
func VentricleZone(bright []float32, brain []uint8, dims [3]int) []bool {
	n := dims[0] * dims[1] * dims[2]
	if len(brain) != n || len(bright) != n {
		return nil
	}
	in := make([]bool, n)
	for i, b := range brain {
		in[i] = b != 0
	}
	deep := in
	for a := range 3 {
		deep = erodeAxis(deep, dims, a, ventricleDepth)
	}
	var vals []float32 // every 4th deep voxel's: enough for two levels
	for i, d := range deep {
		if d && i%4 == 0 {
			vals = append(vals, bright[i])
		}
	}
	if len(vals) < ventricleMinVoxels/4 {
		return nil
	}
	gm, wm := tissueLevels(vals)
	cut := float32(gm - (wm-gm)/2)
	dark := make([]bool, n)
	for i, d := range deep {
		dark[i] = d && bright[i] < cut
	}
	vent := make([]bool, n)
	found := false
	for _, c := range Components(dims, func(i int) bool { return dark[i] }) {
		if len(c) < ventricleMinVoxels {
			continue
		}
		found = true
		for _, i := range c {
			vent[i] = true
		}
	}
	if !found {
		return nil
	}
	for a := range 3 {
		vent = dilateAxis(vent, dims, a, ventricleReach)
	}
	return vent
}

// tissueLevels returns the centres of a two-class one-dimensional k-means
// of vals, started at their quartiles: grey and white matter on a T1 image
// of the deep brain, where CSF (the ventricles) is too small a share to
// hold a class of its own.
func tissueLevels(vals []float32) (lo, hi float64) {
	s := slices.Clone(vals)
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))]) }
	c := [2]float64{q(0.25), q(0.75)}
	for range 50 {
		var sum, cnt [2]float64
		for _, v := range s {
			k := 0
			if x := float64(v); math.Abs(x-c[1]) < math.Abs(x-c[0]) {
				k = 1
			}
			sum[k] += float64(v)
			cnt[k]++
		}
		moved := false
		for j := range 2 {
			if cnt[j] > 0 && sum[j]/cnt[j] != c[j] {
				c[j], moved = sum[j]/cnt[j], true
			}
		}
		if !moved {
			break
		}
	}
	return min(c[0], c[1]), max(c[0], c[1])
}

// erodeAxis keeps the voxels of m whose r neighbours on each side along
// axis a are all in m (the grid's outside is not).
func erodeAxis(m []bool, dims [3]int, a, r int) []bool { return windowAxis(m, dims, a, r, true) }

// dilateAxis marks the voxels with a voxel of m within r along axis a.
func dilateAxis(m []bool, dims [3]int, a, r int) []bool { return windowAxis(m, dims, a, r, false) }

// windowAxis counts, for each voxel, the voxels of m in the window of r
// either side of it along axis a (voxels past the grid's edge count as not
// set), and sets it when all 2r+1 are (erode) or any is (else). Both passes
// run in memory order: the running count along the axis (prefix), then the
// windows read from it.
func windowAxis(m []bool, dims [3]int, a, r int, erode bool) []bool {
	stride := [3]int{1, dims[0], dims[0] * dims[1]}[a]
	length := int32(dims[a])
	// coord returns voxel (x, y, z)'s place along the axis.
	coord := func(x, y, z int32) int32 {
		switch a {
		case 0:
			return x
		case 1:
			return y
		}
		return z
	}
	prefix := make([]int32, len(m)) // voxels of m along the axis up to and including this one
	i := 0
	for z := range int32(dims[2]) {
		for y := range int32(dims[1]) {
			for x := range int32(dims[0]) {
				if m[i] {
					prefix[i] = 1
				}
				if coord(x, y, z) > 0 {
					prefix[i] += prefix[i-stride]
				}
				i++
			}
		}
	}
	out := make([]bool, len(m))
	r32, width := int32(r), int32(2*r+1)
	i = 0
	for z := range int32(dims[2]) {
		for y := range int32(dims[1]) {
			for x := range int32(dims[0]) {
				c := coord(x, y, z)
				set := prefix[i+int(min(length-1, c+r32)-c)*stride]
				if c > r32 {
					set -= prefix[i-(r+1)*stride]
				}
				if erode {
					out[i] = set == width
				} else {
					out[i] = set > 0
				}
				i++
			}
		}
	}
	return out
}
