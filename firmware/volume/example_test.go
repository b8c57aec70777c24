package volume_test

import (
	"errors"
	"fmt"

	"metsentry/firmware/volume"
	"metsentry/runtime/manifest"
)

// A job assembles both series, refuses what is not a 3D volume with an audit
// entry, prepares the model input and maps the model's mask back to the
// source slices.
func Example() {
	run := func(blackFiles, brightFiles []string, m *manifest.Manifest) error {
		bright, err := volume.Assemble(brightFiles, volume.Options{})
		var refused *volume.RefusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("audit: bright series refused (%s): %w", refused.Reason, err)
		} else if err != nil {
			return err
		}
		black, err := volume.Assemble(blackFiles, volume.Options{})
		if err != nil {
			return err
		}
		in, err := volume.Prepare(black, bright, m)
		if err != nil {
			return err
		}
		modelMask := make([]uint8, in.Grid.Len()) // from the detector
		srcMask, err := in.ToSource(modelMask)
		if err != nil {
			return err
		}
		plane := bright.Source.Cols * bright.Source.Rows
		for k, s := range bright.Source.Slices {
			_ = srcMask[k*plane : (k+1)*plane] // the SEG frame for s.SOPInstanceUID
			_ = s
		}
		return nil
	}
	err := run(nil, nil, nil)
	fmt.Println(volume.ReasonOf(err))
	// Output: too-few-slices
}
