package phantom_test

import (
	"fmt"
	"log"

	"metsentry/tools/phantom/phantom"
)

// Training data without DICOM: generate cases of the train split and use the
// two channels and the labels directly. (Compiled, not run: it needs the
// shared anatomy data.)
func ExampleGenerator_Generate() {
	g, err := phantom.NewGenerator("../shared/data/anatomy/colin27", phantom.Config{})
	if err != nil {
		log.Fatal(err)
	}
	for seed := uint64(0); seed < 3; seed++ {
		c, err := g.Generate(seed, phantom.Train)
		if err != nil {
			log.Fatal(err)
		}
		// c.Black, c.Bright: float32, x fastest; c.Labels: lesion IDs;
		// c.Grid: voxel -> patient LPS mm.
		fmt.Println(c.ID, c.Grid.Dims, len(c.Lesions))
		if err := phantom.WriteCase("/tmp/train/"+c.ID, c, "nifti"); err != nil {
			log.Fatal(err)
		}
	}
}
