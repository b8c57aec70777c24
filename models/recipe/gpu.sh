#!/usr/bin/env bash
# models/recipe/gpu.sh — a distillation of MetNet into a narrower network on a
# lent GPU, in one call of the library's `device` tool.
#
# The device machine (one H100 or H200, 16 cores, PyTorch 2.11, at most 15
# minutes a session) gets this working tree and the ignored paths a call
# carries, but no Go and no ../shared. So the kit is made here first:
#
#   models/recipe/gpu.sh kit [INIT.pt]
#
# writes .gpu/ (ignored by git): a static build of models/trainset, Colin27
# from ../shared/data/anatomy/colin27 and, when given, the student weights
# to go on from (.gpu/init.pt). Then, on the device, in one call carrying
# .gpu (about 2 minutes to generate the cases, then MINUTES of training):
#
#   BASE=5 MINUTES=6 models/recipe/gpu.sh run        (run: carry [".gpu"], timeout_s 600)
#
# generates NTRAIN train cases (default 160, seeds 0-159) and 16 val cases
# through firmware/volume.Prepare, as models/recipe/train.sh does, distils
# TEACHER (default models/metnet/metnet.pt, the shipped base-8 weights) into
# a base-BASE student (cut from the teacher by unet.prune, or .gpu/init.pt
# when the kit has one), batch 12 of 96³ patches, batch norm learning, and
# leaves in $OUT: metnet.pt (the lowest val loss), train.json, train.log and
# the generation logs. A run where PyTorch sees no GPU refuses (the CPU recipe
# is train.sh) unless ALLOW_CPU is set, for a smoke test of this script:
#
#   OUT=/tmp/g ALLOW_CPU=1 NTRAIN=2 NVAL=2 BATCH=1 PATCH=32 MINUTES=0.2 models/recipe/gpu.sh run
#
# Back here, the student is exported with this machine's PyTorch 1.13 (the
# exporter the shipped files came from), its second stage fitted, and it is
# judged on val before the test split is touched:
#
#   /usr/bin/python3 models/recipe/export.py --weights S/metnet.pt --calib out/ft/val --out M --calib-cases 4 --base 5
#   cp S/metnet.pt S/train.json M/
#   go run ./models/mkmanifest -dir M -threshold 0.999 -min-mm3 1 -version 0.7.0-dev -key KEY
#   go run ./models/rescore -model M/metnet-fp32.manifest.json -trust models/trust -from 60 -n 100 -out M/rescore.json
#   go run ./models/mkmanifest -dir M -threshold 0.999 -min-mm3 1 -version 0.7.0-dev -rescore M/rescore.json -accept 0.4 -key KEY
#   go run ./tools/evaluate -split val -n 48 -model M/metnet-fp32.manifest.json -trust models/trust -out DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kit=$root/.gpu
cd "$root"

case "${1:-}" in
kit)
  mkdir -p "$kit"
  CGO_ENABLED=0 go build -o "$kit/trainset" ./models/trainset
  rm -rf "$kit/colin27"
  cp -r "${ANATOMY:-$root/../shared/data/anatomy/colin27}" "$kit/colin27"
  chmod -R u+w "$kit/colin27"
  rm -f "$kit/init.pt"
  if [ -n "${2:-}" ]; then
    cp "$2" "$kit/init.pt"
  fi
  du -sh "$kit"
  echo "gpu.sh: kit in .gpu; run 'models/recipe/gpu.sh run' on the device carrying .gpu"
  ;;
run)
  py=${PYTHON:-python3}
  out=${OUT:?gpu.sh run: OUT (the folder whose files come back) is not set}
  if [ "$($py -c 'import torch; print(int(torch.cuda.is_available()))')" != 1 ] && [ -z "${ALLOW_CPU:-}" ]; then
    echo "gpu.sh: PyTorch sees no CUDA GPU here; on the CPU use models/recipe/train.sh" >&2
    exit 1
  fi
  for f in "$kit/trainset" "$kit/colin27"; do
    [ -e "$f" ] || { echo "gpu.sh: $f missing: make the kit here first (gpu.sh kit) and carry .gpu" >&2; exit 1; }
  done
  if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi
  t0=$(date +%s)
  data=${DATA:-/tmp/gpu-trainset}
  cores=$(nproc)
  "$kit/trainset" -anatomy "$kit/colin27" -split train -n "${NTRAIN:-160}" -out "$data/train" -j $((cores > 3 ? cores - 2 : 1)) >"$out/gen-train.log" 2>&1 &
  gen=$!
  "$kit/trainset" -anatomy "$kit/colin27" -split val -n "${NVAL:-16}" -out "$data/val" -j 2 >"$out/gen-val.log" 2>&1
  wait "$gen"
  echo "gpu.sh: generated $(ls "$data/train" | wc -l) train and $(ls "$data/val" | wc -l) val cases in $(($(date +%s) - t0)) s"
  extra=()
  if [ -e "$kit/init.pt" ]; then
    extra+=(--init "$kit/init.pt")
  fi
  PYTHONUNBUFFERED=1 $py models/recipe/train.py --train "$data/train" --val "$data/val" --out "$out" \
    --minutes "${MINUTES:-6}" --steps 30000 --batch "${BATCH:-12}" --patch "${PATCH:-96}" --lr "${LR:-1e-3}" --faint "${FAINT:-1.0}" \
    --seed "${SEED:-11}" --base "${BASE:-5}" --teacher "${TEACHER:-models/metnet/metnet.pt}" --prune-from \
    --distill "${DISTILL:-0.01}" "${extra[@]}" >"$out/train.out" 2>&1 || { tail -20 "$out/train.out"; exit 1; }
  grep -E "^device|^starting|^distilling|step [0-9]*00 |done|limit" "$out/train.out" | tail -15
  echo "gpu.sh: $(($(date +%s) - t0)) s in all"
  ;;
*)
  echo "usage: models/recipe/gpu.sh kit [INIT.pt] | run" >&2
  exit 2
  ;;
esac
