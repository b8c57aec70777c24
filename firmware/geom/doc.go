// Package geom holds the patient-space geometry every image stage shares: a
// voxel grid (dimensions and the affine from voxel index to patient LPS
// millimetres, the DICOM convention) and the small linear algebra on it.
//
// Voxel (i, j, k) is column i, row j, slice k; its value sits at flat index
// (k*ny + j)*nx + i in a volume's data slice. The affine maps the voxel centre
// (i, j, k) to patient coordinates (x, y, z) in LPS: x grows to the patient's
// left, y to posterior, z to superior.
package geom
