// Package runner runs synthetic studies through the appliance's own pipeline
// in process and scores what comes out with package score.
//
// For each (split, seed) it generates the phantom case, writes its DICOM
// study to a scratch folder, assembles the two series with firmware/volume
// exactly as the daemon does, asks a Detector for a probability map on that
// grid, turns it into lesions with firmware/detect (threshold and minimum
// component volume: the appliance's operating point), and scores the lesions
// against the phantom's truth. The seconds per study run from reading the
// DICOM files to the lesion list. The FROC sweep applies the same threshold
// and minimum-volume rule at each point.
//
// The Detector is where the model sits. ModelDetector runs a model through
// the appliance's own chain, firmware/analyze (volume.Prepare on the
// manifest's grid, runtime/infer whole or tiled, the rescore stage, the map
// sampled back to the source grid); no copy of that chain lives here. The evaluate
// command opens it with runtime/model in a cgo build. BaselineDetector is a
// classical, non-learned black-blood threshold that lets the pipeline and
// the scoreboard run anywhere and gives every model a floor to beat.
// Predictions made elsewhere are scored from NIfTI files or DICOM SEG by
// ScoreFiles; RunE2E sends the studies to a running daemon over DIMSE and
// scores the SEG it sends back (ReadSEG).
//
// With Options.Multi the cases come from the phantom's many-backgrounds
// generator (each on one real brain, splits by brain): the report has a row
// per brain, and each false positive is placed with tools/realcheck's
// location rule (locate.go). Options.CompareBrightOnly runs every study a
// second time with the black-blood series withheld and reports both.
package runner
