// Package ort is metsentry's only door to ONNX Runtime, through
// github.com/yalue/onnxruntime_go. It is the one package that uses cgo: every
// other package sees the small interfaces it implements, so they build and test
// with CGO_ENABLED=0.
//
// The shared library is never looked up by its default name; the board file (or,
// for tests, METSENTRY_ORT_LIB or the build cache that `./build.sh deps` fills)
// names the exact file, and a missing file is an error that names the path.
package ort
