// Package manifest reads the JSON file that ships beside every model: what the
// model expects (input channels, voxel spacing, normalisation, how a volume is
// passed through it), what it returns (output meaning, operating threshold,
// minimum lesion size), how to verify it (file sha256, reference inputs and
// outputs for the start-up self-test) and what it was measured to do.
//
// It is pure Go so that every stage can read the parts it needs (volume reads
// spacing and normalisation, detect reads the threshold) without cgo; only
// runtime/ort loads the model itself.
package manifest
