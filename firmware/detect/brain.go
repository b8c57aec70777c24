package detect

import "metsentry/runtime/manifest"

// GateBrain drops, from the operating map op on a grid of dims, every
// component of voxels at or above thr (26-connected, as Find joins them)
// that has fewer than half of its voxels in brain: metastases grow in the
// brain, and what lies mostly outside it (skull base, neck, orbit, scalp)
// is not one. A dropped component's voxels at or above thr are set to 0;
// it returns how many components it dropped. A nil brain (none was found)
// gates nothing. Below thr the map is left as it is, so a sweep of lower
// thresholds sees those components' margins ungated.
func GateBrain(op []float32, brain []uint8, dims [3]int, thr float32) int {
	if brain == nil || len(brain) != len(op) {
		return 0
	}
	dropped := 0
	for _, comp := range Components(dims, func(i int) bool { return op[i] >= thr }) {
		if InBrain(comp, brain) {
			continue
		}
		for _, i := range comp {
			op[i] = 0
		}
		dropped++
	}
	return dropped
}

// InBrain is the gate's rule for one component (flat indices into brain):
// at least half of its voxels in brain. A nil brain gates nothing.
func InBrain(comp []int, brain []uint8) bool {
	if brain == nil {
		return true
	}
	in := 0
	for _, i := range comp {
		in += int(brain[i])
	}
	return 2*in >= len(comp)
}

// BrainMap is OperatingMap followed by GateBrain: the map a study's lesions
// are found on, less what lies mostly outside brain (nil: no gate). The
// appliance and the tools call it, so none of them can leave the gate out.
func BrainMap(prob, black, bright []float32, brain []uint8, dims [3]int, o manifest.Output, visible bool) ([]float32, Params, error) {
	op, p, err := OperatingMap(prob, black, bright, brain, dims, o, visible)
	if err != nil {
		return nil, p, err
	}
	GateBrain(op, brain, dims, float32(p.Threshold))
	return op, p, nil
}
