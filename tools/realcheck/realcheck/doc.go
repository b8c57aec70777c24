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
//
// The real negatives scoreboard (issue 23) runs the same chain on every real
// brain of the shared data with nothing inserted: LoadBackground reads a
// brain (NIfTI or the Philips DICOM series; ExtractBrain makes a brain mask
// for whole heads), MakeMasks builds what the location rules read,
// DeriveBlack makes a VISIBLE-like black-blood image from the real one the
// way tools/phantom derives its black channel, RunNegatives runs the model
// on the pair and bright-only and places every false positive, and
// NegReport.WriteNegatives writes negatives.md and negatives.json.
package realcheck
