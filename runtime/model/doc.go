// Package model turns a signed model bundle into a running infer.Engine.
//
// Open takes the candidate manifests in order of preference (typically the
// INT8 model, then its fp32 twin) and, for each, until one passes:
//
//  1. verifies it (runtime/trust: manifest schema, model sha256, ed25519
//     signature against the trust store);
//  2. loads it into an ONNX Runtime session (runtime/ort) on the board's
//     providers, threads and memory settings, from the verified bytes;
//  3. checks the model's declared input and output against the manifest
//     (rank 5, channel counts), so a wrong-shape model is refused by name;
//  4. runs the start-up self-test: the manifest's reference input must give
//     the reference output within the manifest's tolerance. On AMX Xeons this
//     is what catches a broken int8 kernel if the AMX guard ever fails;
//  5. warms the session up with a pass of the study size, so the first study
//     pays no allocation or kernel-selection cost.
//
// A candidate that fails is logged and the next is tried, so a bad INT8 model
// falls back to fp32; when none passes Open returns ErrNoUsableModel with
// every candidate's reason, which the daemon shows as a panel fault. The
// returned Model is one session reused across studies.
package model
