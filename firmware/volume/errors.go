package volume

import (
	"errors"
	"fmt"
)

// Reason names why a series was refused. The values are stable strings so the
// audit log and the service console can show and count them.
type Reason string

// Refusal reasons.
const (
	// ReasonTooFewSlices: fewer than MinSlices distinct slice positions.
	ReasonTooFewSlices Reason = "too-few-slices"
	// ReasonNotAVolume: several slices share one position (repeated
	// acquisitions, echoes or a localiser stack), so they do not form one 3D
	// volume.
	ReasonNotAVolume Reason = "not-a-volume"
	// ReasonMixedOrientation: slices disagree on ImageOrientationPatient.
	ReasonMixedOrientation Reason = "mixed-orientation"
	// ReasonMixedSize: slices disagree on rows, columns or pixel spacing.
	ReasonMixedSize Reason = "mixed-size"
	// ReasonMissingSlices: one or more gaps between slice positions are a
	// multiple of the usual step (a slice was not received or not acquired).
	ReasonMissingSlices Reason = "missing-slices"
	// ReasonIrregularSpacing: the steps between slice positions differ by
	// more than the tolerance.
	ReasonIrregularSpacing Reason = "irregular-spacing"
	// ReasonGantryTilt: the slices are stacked along a direction that is not
	// the slice normal (gantry tilt, or a sheared stack).
	ReasonGantryTilt Reason = "gantry-tilt"
	// ReasonNonOrthogonal: the row and column directions are not at right angles.
	ReasonNonOrthogonal Reason = "non-orthogonal"
	// ReasonGaps: 2D slices with gaps between them (spacing larger than the
	// slice thickness), not a contiguous 3D volume.
	ReasonGaps Reason = "slice-gaps"
	// ReasonTransferSyntax: the pixel data is in a transfer syntax this
	// firmware does not decode.
	ReasonTransferSyntax Reason = "transfer-syntax"
	// ReasonPixelFormat: a pixel format that is not single-sample greyscale
	// of 8, 16 or 32 bits.
	ReasonPixelFormat Reason = "pixel-format"
	// ReasonMissingGeometry: an instance lacks position, orientation or spacing.
	ReasonMissingGeometry Reason = "missing-geometry"
	// ReasonMixedSeries: the instances belong to more than one series or
	// frame of reference.
	ReasonMixedSeries Reason = "mixed-series"
	// ReasonFrameOfReference: the two channels of a pair do not share a
	// frame of reference, so one cannot be placed on the other.
	ReasonFrameOfReference Reason = "frame-of-reference"
	// ReasonUnreadable: a file is not DICOM or is damaged.
	ReasonUnreadable Reason = "unreadable"
	// ReasonNoHead: no head was found in the bright channel (empty or
	// constant image).
	ReasonNoHead Reason = "no-head"
)

// RefusedError says a series cannot be used for detection, and why. It is a
// property of the data, not a fault: the job records it in the audit log and
// moves on. Test with errors.As.
type RefusedError struct {
	Reason Reason
	Detail string // what was found and what was expected, for a person
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("volume: series refused: %s", e.Detail)
}

func refuse(r Reason, format string, args ...any) error {
	return &RefusedError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the refusal reason of err, or "" when err is not a refusal.
func ReasonOf(err error) Reason {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}
