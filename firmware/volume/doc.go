// Package volume turns a DICOM series into a 3D volume in patient space and
// prepares a VISIBLE pair (black-blood, bright-blood) for the model.
//
// Assemble reads the instances of one series with suyashkumar/dicom: classic
// single-frame MR (or CT) images, and Enhanced MR multi-frame instances whose
// position, orientation, pixel spacing and rescale come from the per-frame
// (else shared) functional groups. A multi-frame instance holding several
// volumes (time points, echoes, ASL label/control) gives its first volume:
// the frames that share the first frame's DimensionIndexValues on every
// dimension but the in-stack position. Slices are sorted along the normal of
// ImageOrientationPatient by ImagePositionPatient; the slice step is taken
// from the positions, never from SliceThickness or SpacingBetweenSlices; the
// affine (geom.Grid) maps voxel index to patient LPS mm exactly. Stored values
// are rescaled with RescaleSlope/RescaleIntercept (per frame when given).
//
// A series that is not one regular 3D stack is refused with a *RefusedError
// whose Reason is one of the Reason constants and whose message is written
// for the audit log: fewer than three slices, repeated positions, mixed
// orientations or sizes, a non-orthogonal orientation, missing slices,
// irregular spacing, gantry tilt (slices stacked off their normal), 2D
// slices with gaps (thickness smaller than spacing), and transfer syntaxes
// that are not decoded.
//
// Transfer syntaxes decoded: Implicit VR Little Endian, Explicit VR Little
// Endian, Deflated Explicit VR Little Endian (inflated by suyashkumar/dicom)
// and Explicit VR Big Endian (pixel bytes swapped here). Refused, by name:
// every encapsulated syntax (JPEG Baseline/Extended/Lossless, JPEG-LS,
// JPEG 2000, RLE Lossless and the rest): no well-kept pure-Go decoder for
// 16-bit JPEG Lossless, JPEG-LS or JPEG 2000 exists, suyashkumar/dicom
// v1.1.0 decodes none of them, and scanners send uncompressed images on
// request.
//
// Work over slices (decoding) and over slabs of the output (resampling,
// masking, normalising) is spread over runtime.GOMAXPROCS goroutines; the
// inner loops allocate nothing per voxel.
package volume
