// Package nifti reads and writes single-volume NIfTI-1 files (.nii and
// .nii.gz), the format of the real anatomy the phantom is built on (Colin27,
// BraTS) and of the phantom's truth and raw training volumes.
//
// It is deliberately small: one 3D volume per file, scalar data types only,
// little or big endian on read, little endian on write. The orientation is the
// sform when its code is set, else the qform, else the bare voxel sizes, and is
// returned as a 4×4 matrix from voxel index to RAS+ millimetres (the NIfTI
// world convention). Callers that work in DICOM's LPS+ flip the first two rows.
//
// firmware/volume had no NIfTI code committed when this package was written;
// if it grows one, this package can become a thin wrapper around it.
package nifti
