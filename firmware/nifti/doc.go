// Package nifti reads and writes single-file NIfTI-1 images (.nii, and .nii.gz
// compressed with gzip) so that any volume in the pipeline can be looked at in
// an ordinary viewer, and so the tools can read anatomy such as Colin27 and
// BraTS.
//
// Geometry is held as a geom.Grid whose affine maps voxel index to patient
// LPS millimetres, the convention of the rest of metsentry. NIfTI stores RAS
// (x to the right, y anterior), so Read and Write negate the first two rows
// of the affine. Read takes the sform when sform_code > 0, else the qform when
// qform_code > 0, else the pixdim scaling (NIfTI "method 1"). Write stores the
// affine as the sform exactly and as the nearest rigid qform (both with code 1,
// scanner anatomical), so either is usable.
//
// Voxel values are returned as float32 with scl_slope/scl_inter applied.
// Stored types read: uint8, int8, int16, uint16, int32, uint32, float32,
// float64, either byte order. Write stores float32 by default, or uint8 or
// int16 when Image.Datatype says so (masks and labels). Two-file .hdr/.img
// pairs, complex and RGB types are refused with a clear error.
package nifti
