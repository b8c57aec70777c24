// Package ort is metsentry's only door to ONNX Runtime, through
// github.com/yalue/onnxruntime_go. It uses cgo: every other package sees the
// small interfaces runtime/infer defines, so they build and test with
// CGO_ENABLED=0.
//
// The shared library is never looked up by its default name; the board file (or,
// for tests, METSENTRY_ORT_LIB or the build cache that `./build.sh deps` fills)
// names the exact file, and a missing file is an error that names the path.
//
// Init blocks Intel AMX for the whole process before it loads the library
// (runtime/amx explains why: ONNX Runtime 1.24.1's AMX int8 convolution returns
// wrong numbers for some layer shapes). AMXGuard reports the outcome for status
// and the SR.
//
// NewSession tries the board's execution providers in order (tensorrt, cuda,
// then cpu), each on fresh session options; a provider whose options cannot be
// made, updated or appended, or whose session cannot be created, is skipped,
// and the skipped providers with their reasons are logged in one line, once
// per process. A TensorRT session also gets the CUDA provider when the board
// lists it, for the nodes TensorRT does not take. TensorRT runs in fp16 (and int8 for QDQ models) with its engine
// cache in a folder keyed by the model's sha256, the TensorRT version and the
// GPU (EngineCacheDir). Sessions default to memory pattern off, one inter-op
// thread and the board's intra-op threads, which keeps RSS bounded with
// changing input sizes. One Session is meant to be reused across studies;
// RunContext abandons a run when its context is cancelled.
package ort
