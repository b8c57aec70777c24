// Package selftest is the appliance's built-in self-test: a phantom study
// made in code, run through the model exactly as a patient study is, and
// checked against where its lesions were put.
//
// The phantom (phantom.go) is a VISIBLE pair on a 1 mm axial grid: a head
// of nested ellipsoids (scalp fat, skull, CSF, grey and white matter,
// lateral ventricles) with three metastases (10 mm solid, 16 mm
// ring-enhancing, 7 mm solid) and one enhancing vein, bright on the
// bright-blood image and suppressed on the black-blood one. Its noise comes
// from a fixed seed per slice: every run builds the same images. It is
// never used for training.
//
// Run takes an analyze.Model (manifest, infer.Engine, plan) and calls
// analyze.Model.Detect, the chain the daemon runs on every study (volume →
// network → rescore → detect), so the self-test measures what ships.
// Compare then asks that each placed lesion be found once, centred within
// MaxCentreOffset of its diameter, with MinVolumeRatio to MaxVolumeRatio of
// its volume, and that nothing else be found (the vein included: a model
// blind to the black-blood channel flags it). Open does the same on a model
// it opens from its files through an Opener, so a model file damaged since
// start-up fails the test with the reason the runtime gave.
//
// The package is pure Go: the engine is injected (runtime/model in the
// daemon, stand-ins in tests). The shipped model's pass, and its failure on
// a damaged model file, are tested in firmware/cmd/metsentryd, which links
// ONNX Runtime.
//
// Report is what a caller shows: String for a person (one line per lesion,
// then PASS or FAIL with every reason), JSON fields for tools/metctl, Err
// for code (ErrFailed wrapped with the reasons).
package selftest
