// Package realcheck runs the detection model on one real brain, a BraTS 2023
// glioma case, the way the appliance would, and reports whether the study is
// flagged, whether the enhancing tumour is found and what else is flagged.
//
// The case has no labels here, so the tumour is located by a reference region
// defined from the images themselves (see Reference): the largest connected
// region that enhances (post- minus pre-contrast T1, each as a robust z-score
// inside the brain) within the FLAIR-hyperintense region. Only the
// post-contrast T1 is fed to the model, as a bright-only study (the
// black-blood channel zeroed by firmware/volume.Prepare when the manifest
// allows it); the pre-contrast T1 and FLAIR serve only the reference.
//
// Parts: LoadStudy reads the NIfTI files (RAS on disk, LPS in memory, through
// firmware/nifti); FindReference builds the reference region; Check runs
// Prepare, the model (any runtime/infer.Engine: ONNX Runtime in the command,
// a stand-in in tests), firmware/detect at the manifest's operating point, and
// classifies every lesion; Result.WriteReport writes report.md and
// report.json. Only geometry is ever taken from the headers.
package realcheck
