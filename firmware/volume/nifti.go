package volume

import (
	"fmt"

	"metsentry/firmware/nifti"
)

// WriteNIfTI writes the volume as NIfTI-1 (gzip when path ends .gz) so it
// can be looked at in any viewer; the NIfTI affine is the volume's, in RAS.
func (v *Volume) WriteNIfTI(path string) error {
	return nifti.Write(path, &nifti.Image{Grid: v.Grid, Data: v.Data, Description: "metsentry volume"})
}

// WriteNIfTI writes the model input as a 4D NIfTI-1 image, one volume per
// channel in Channels order, on the model grid.
func (mi *ModelInput) WriteNIfTI(path string) error {
	return nifti.Write(path, &nifti.Image{Grid: mi.Grid, Volumes: len(mi.Channels), Data: mi.Data, Description: fmt.Sprintf("metsentry model input %v", mi.Channels)})
}

// FromNIfTI makes a volume from a 3D NIfTI image (no DICOM source), for tools
// and tests that start from NIfTI anatomy.
func FromNIfTI(img *nifti.Image) (*Volume, error) {
	if img.Volumes > 1 {
		return nil, fmt.Errorf("volume: NIfTI image has %d volumes; one 3D volume expected", img.Volumes)
	}
	return &Volume{Grid: img.Grid, Data: img.Data}, nil
}
