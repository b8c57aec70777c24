package detect_test

import (
	"fmt"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// A probability map on a 1 mm model grid with one 2×2×2 blob turns into one
// lesion; the manifest's operating point decides what counts.
func ExampleFind() {
	g := geom.Grid{Dims: [3]int{8, 8, 8}, Affine: geom.Identity}
	prob := make([]float32, g.Len())
	for k := 3; k < 5; k++ {
		for j := 3; j < 5; j++ {
			for i := 3; i < 5; i++ {
				prob[g.Index(i, j, k)] = 0.8
			}
		}
	}
	prob[g.Index(0, 0, 0)] = 0.9 // one voxel: below the minimum volume
	p := detect.ParamsFromManifest(manifest.Output{Threshold: 0.5, MinComponentMM3: 2})
	lesions, err := detect.Find(prob, g, p, detect.Reference{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range lesions {
		fmt.Printf("lesion %d: %.0f mm³, centre %.1f, diameter %.2f mm\n", l.Number, l.VolumeMM3, l.CentreLPS, l.LongestDiameterMM)
	}
	// Output:
	// lesion 1: 8 mm³, centre [3.5 3.5 3.5], diameter 3.46 mm
}
