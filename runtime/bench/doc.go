// Package bench times one study's inference on this machine: the bench U-Net
// (runtime/testdata/unet-*.onnx, random fixed-seed weights: speed only) in
// fp32 and INT8 through ONNX Runtime, with and without the AMX guard, and the
// same network in PyTorch when /usr/bin/python3 has torch, in one run, and
// prints seconds per study, peak RSS, agreement with fp32 and the ratios.
//
// Every configuration runs in its own child process (the test binary or
// command re-executes itself), because peak RSS is a per-process figure and
// the AMX guard cannot be undone within a process. runtime/cmd/ortbench is the
// command; metctl can call Run as its bench subcommand.
package bench
