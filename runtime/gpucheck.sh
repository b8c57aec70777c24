#!/bin/sh
# runtime/gpucheck.sh — the inference runtime's GPU check, run by hand on a
# machine with an NVIDIA GPU (never by `go test ./...` or CI).
#
# What it needs
#   - nvidia-smi and a working driver;
#   - for the ONNX Runtime part: a GPU build of ONNX Runtime 1.24.1, named by
#     METSENTRY_ORT_LIB (its libonnxruntime.so.1, with
#     libonnxruntime_providers_shared.so, _cuda.so and, for TensorRT,
#     _tensorrt.so beside it, and CUDA/cuDNN/TensorRT libraries on the loader
#     path; on a Jetson, JetPack's build);
#   - Go 1.26 to build the checks, or the prebuilt binaries bin/ortgpu.test and
#     bin/ortbench (make them elsewhere with `runtime/gpucheck.sh build`);
#   - optionally a python3 with torch built for CUDA, for the PyTorch row.
#
# What it runs, from the repository root
#   1. nvidia-smi -L and the driver version.
#   2. The gpucheck-tagged tests of runtime/ort (runtime/ort/gpu_test.go): the
#      bench U-Net (fp32 and INT8) on the cuda and tensorrt providers. Each must
#      come up on the provider asked for (not fall back), match the CPU output
#      (cuda 1e-3; tensorrt 0.05 in fp16; INT8 0.15) and, for TensorRT, leave an
#      engine in the cache folder keyed by model sha256 + TensorRT version + GPU.
#      It logs load time and milliseconds per 1x2x64x96x96 run.
#   3. ortbench on one study (default 160x192x160, DIMS= to change) with
#      providers tensorrt,cuda,cpu and PyTorch on cuda: seconds per study for
#      fp32 and INT8, peak RSS, and the ratios.
#
# What to expect: step 2 prints PASS; with a CPU-only library it FAILS with
# "asked for cuda, got cpu" and the loader's reason (that is the fallback the
# appliance takes, shown once in its log). Step 3's provider column says which
# provider each row ran on.
#
# Usage: runtime/gpucheck.sh [build]
set -u
cd "$(dirname "$0")/.." || exit 2
DIMS=${DIMS:-160x192x160}
RUNS=${RUNS:-5}

if [ "${1:-}" = build ]; then
	mkdir -p bin
	go test -c -tags gpucheck -o bin/ortgpu.test ./runtime/ort &&
		go build -o bin/ortbench ./runtime/cmd/ortbench && echo "built bin/ortgpu.test bin/ortbench"
	exit $?
fi

echo "== 1. GPU"
nvidia-smi -L || { echo "gpucheck: nvidia-smi failed: no usable NVIDIA GPU here"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

lib=${METSENTRY_ORT_LIB:-.cache/ort/1.24.1/linux-x64/libonnxruntime.so.1}
export METSENTRY_ORT_LIB="$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")"
echo "ONNX Runtime library: $METSENTRY_ORT_LIB"
if [ ! -e "$(dirname "$METSENTRY_ORT_LIB")/libonnxruntime_providers_cuda.so" ]; then
	echo "gpucheck: no libonnxruntime_providers_cuda.so beside it: this is a CPU-only build, so cuda and tensorrt will fall back to cpu"
fi

status=0
echo "== 2. providers (runtime/ort gpu_test.go)"
if [ -x bin/ortgpu.test ]; then
	(cd runtime/ort && ../../bin/ortgpu.test -test.run GPU -test.v -test.count=1) || status=1
elif command -v go >/dev/null; then
	go test -tags gpucheck -run GPU -v -count=1 ./runtime/ort || status=1
else
	echo "gpucheck: neither go nor bin/ortgpu.test; run 'runtime/gpucheck.sh build' on a machine with Go"; status=1
fi

echo "== 3. one study: ORT on tensorrt,cuda,cpu and PyTorch on cuda ($DIMS)"
py=python3
$py -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null || { echo "(python3 has no CUDA torch: PyTorch row runs on cpu)"; tdev=cpu; }
tdev=${tdev:-cuda}
bench="bin/ortbench"
[ -x "$bench" ] || bench="go run ./runtime/cmd/ortbench"
$bench -providers tensorrt,cuda,cpu -threads "$(nproc)" -dims "$DIMS" -runs "$RUNS" -python "$(command -v $py)" -torch-device "$tdev" || status=1
exit $status
