// Package phantom builds synthetic VISIBLE studies on real brain anatomy: the
// black-blood and bright-blood images of one 3D post-contrast acquisition,
// with synthetic brain metastases and their truth (a label volume and a
// lesion list).
//
// How the parts fit:
//
//   - anatomy.go loads Colin27 (T1 with scalp, brain mask, AAL atlas) once and
//     derives tissue classes, a signed distance to the brain surface and the
//     dural sinus centrelines.
//   - transform.go draws a subject: rotation (±15°), scaling, head position
//     in the field of view and a smooth random displacement field, mapping the
//     output grid into the template.
//   - vessels.go grows branching, tortuous vessel trees in the template (pial
//     arteries from the circle of Willis, cortical veins, small cortical
//     arteries, penetrating vessels) and indexes them in output space.
//   - lesions.go and generate.go place metastases (mostly at the grey-white
//     junction and in the cerebellum, some touching a vessel) as unions of
//     spheres with solid, ring or necrotic enhancement.
//   - render.go composes each voxel: per-tissue contrast, oedema, vessels
//     (bright in one channel, suppressed in the other, with slow-flow and
//     residual-signal imperfections), choroid plexus and pituitary, lesions,
//     3×3×3 supersampling of every edge (partial volume; the label is the
//     shape voxelised by voxel centres), bias field, motion
//     ghosting and Rician noise.
//   - dicom.go writes the study (two MR series, one frame of reference);
//     run.go writes truth.json, labels.nii.gz and optional raw NIfTI volumes;
//     preview.go draws a PNG for people.
//
// A case is (split, seed): the split salts the random stream, so splits never
// share a case, and the same pair gives the same case on every machine.
// Version names the generator; reports quote it.
package phantom
