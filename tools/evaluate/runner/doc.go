// Package runner runs synthetic studies through the appliance's own pipeline
// in process and scores what comes out with package score.
//
// For each (split, seed) it generates the phantom case, writes its DICOM
// study to a scratch folder, assembles the two series with firmware/volume
// exactly as the daemon does, asks a Detector for a probability map on that
// grid, turns it into lesions with firmware/detect (threshold and minimum
// component volume: the appliance's operating point), and scores the lesions
// against the phantom's truth. The seconds per study run from reading the
// DICOM files to the lesion list.
//
// The Detector is where the model sits. BaselineDetector is a classical,
// non-learned black-blood threshold that exists so the pipeline and the
// scoreboard can be exercised, and so every model has a floor to beat.
// Predictions made elsewhere are scored from NIfTI files by ScoreFiles.
package runner
