package volume

import (
	"metsentry/firmware/geom"
)

// Volume is a 3D image on a grid in patient space, with a description of the
// DICOM slices it came from.
type Volume struct {
	// Grid: Dims are (columns, rows, slices); the affine maps voxel (i, j, k)
	// to patient LPS mm. Slice k is Source.Slices[k].
	Grid geom.Grid
	// Data holds Grid.Len() modality values (stored value × RescaleSlope +
	// RescaleIntercept), x fastest.
	Data []float32
	// Source describes the DICOM instances; nil for derived volumes.
	Source *Source
}

// Source describes the DICOM series a volume was assembled from, so results
// on the volume's grid can be written back against the source images.
type Source struct {
	StudyInstanceUID    string
	SeriesInstanceUID   string
	FrameOfReferenceUID string
	SOPClassUID         string
	Modality            string
	TransferSyntaxUID   string
	Rows, Cols          int
	SliceThickness      float64 // mm, as the header says (0 when absent)
	// Multiframe is true for enhanced (multi-frame) instances.
	Multiframe bool
	// Slices lists the source slices in volume order (k = 0, 1, ...).
	Slices []SourceSlice
}

// SourceSlice is one source image: a classic instance, or one frame of a
// multi-frame instance.
type SourceSlice struct {
	SOPInstanceUID string
	// Frame is the 1-based frame number in a multi-frame instance, 0 for a
	// single-frame instance.
	Frame int
	// Position is the slice's ImagePositionPatient (LPS mm, centre of its
	// first voxel), as the header gives it.
	Position geom.Vec3
}

// Options tune Assemble's geometry checks. The zero value uses the defaults.
type Options struct {
	// MinSlices is the fewest slices a volume may have (default 3).
	MinSlices int
	// SpacingTolerance is the largest difference between one slice step and
	// the median step, as a fraction of the median (default 0.1).
	SpacingTolerance float64
	// TiltToleranceDeg is the largest angle between the stacking direction
	// and the slice normal (default 1 degree).
	TiltToleranceDeg float64
	// AllowGaps accepts slices spaced further apart than they are thick.
	// Detection needs contiguous 3D data, so it is false in the appliance.
	AllowGaps bool
}

func (o Options) withDefaults() Options {
	if o.MinSlices <= 0 {
		o.MinSlices = 3
	}
	if o.SpacingTolerance <= 0 {
		o.SpacingTolerance = 0.1
	}
	if o.TiltToleranceDeg <= 0 {
		o.TiltToleranceDeg = 1
	}
	return o
}
