#!/usr/bin/env bash
# models/recipe/gpu.sh — MetNet training on a lent GPU, in one call of the
# library's `device` tool.
#
# The device machine (one H100 or H200, 16 cores, PyTorch 2.11, at most 15
# minutes a session, machine start included) gets this working tree and the
# ignored paths a call carries, but no Go and no ../shared. So the kit is
# made here first, in .gpu/ (ignored by git): a static build of
# models/trainset, the brains, and the weights to go on from.
#
# Fine-tuning on the real brains (issue 23), the recipe a lent GPU is for now:
#
#   BRAINS=1 models/recipe/gpu.sh kit models/metnet/metnet.pt     (here; about 51 MB)
#   RECIPE=finetune MINUTES=6 models/recipe/gpu.sh run            (device: carry [".gpu"], timeout_s 600)
#   models/recipe/candidate.sh <$OUT>/metnet.pt out/cand 0.7.0    (here, about 30 minutes)
#
# The kit carries the train and val brains of phantom.DefaultBrainSplits
# (trainset -brains train,val: Colin27, BraTS-GLI-00001, studyforrest, the
# MRIcron head); the test brains never leave this machine. On the device the
# run writes NTRAIN train cases (default 160, seeds 0-159) and NVAL val cases
# (16) through firmware/volume.Prepare (about 40 s to load the brains, 8 s a
# case on a core; measured here), trains the base-BASE (8) network from
# .gpu/init.pt on the labels, batch BATCH (12) of PATCH³ (96³) patches, batch
# norm learning, and leaves in $OUT: metnet.pt (the lowest val loss),
# train.json, train.log and the generation logs. candidate.sh exports it,
# fits its second stage and scores it on the val brain.
#
# Distillation into a narrower network on the classic phantom (Colin27):
#
#   models/recipe/gpu.sh kit [INIT.pt]
#   BASE=5 MINUTES=6 models/recipe/gpu.sh run
#
# distils TEACHER (default models/metnet/metnet.pt) into a base-BASE (5)
# student cut from the teacher by unet.prune, or .gpu/init.pt when the kit
# has one.
#
# A run where PyTorch sees no GPU refuses (the CPU recipe is train.sh) unless
# ALLOW_CPU is set, for a smoke test of this script (about 2 minutes here):
#
#   OUT=/tmp/g ALLOW_CPU=1 RECIPE=finetune NTRAIN=2 NVAL=2 BATCH=1 PATCH=32 MINUTES=0.2 models/recipe/gpu.sh run
#
# Back here, a distilled student is exported with this machine's PyTorch
# 1.13 (the exporter the shipped files came from) and judged on val before
# the test split is touched:
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
  # gpu.sh kit [INIT.pt]: Colin27, for the classic phantom.
  # BRAINS=1 gpu.sh kit INIT.pt: the real brains of the train and val splits
  # instead (phantom.DefaultBrainSplits, asked of trainset itself); the test
  # brains never leave this machine.
  rm -rf "$kit"
  mkdir -p "$kit"
  CGO_ENABLED=0 go build -o "$kit/trainset" ./models/trainset
  shared=${SHARED:-$root/../shared/data}
  if [ -n "${BRAINS:-}" ]; then
    "$kit/trainset" -brains train,val >"$kit/brains"
    while read -r b; do
      for d in anatomy dicom; do
        if [ -d "$shared/$d/$b" ]; then
          mkdir -p "$kit/shared/$d"
          cp -r "$shared/$d/$b" "$kit/shared/$d/$b"
        fi
      done
      [ -d "$kit/shared/anatomy/$b" ] || [ -d "$kit/shared/dicom/$b" ] || { echo "gpu.sh: brain $b not under $shared" >&2; exit 1; }
    done <"$kit/brains"
  else
    cp -r "${ANATOMY:-$shared/anatomy/colin27}" "$kit/colin27"
  fi
  chmod -R u+w "$kit"
  if [ -n "${2:-}" ]; then
    cp "$2" "$kit/init.pt"
  fi
  du -sh "$kit"
  echo "gpu.sh: kit in .gpu; run 'models/recipe/gpu.sh run' on the device carrying .gpu"
  ;;
run)
  py=${PYTHON:-python3}
  out=${OUT:?gpu.sh run: OUT (the folder whose files come back) is not set}
  recipe=${RECIPE:-distil}
  if [ "$($py -c 'import torch; print(int(torch.cuda.is_available()))')" != 1 ] && [ -z "${ALLOW_CPU:-}" ]; then
    echo "gpu.sh: PyTorch sees no CUDA GPU here; on the CPU use models/recipe/train.sh" >&2
    exit 1
  fi
  [ -e "$kit/trainset" ] || { echo "gpu.sh: $kit/trainset missing: make the kit here first (gpu.sh kit) and carry .gpu" >&2; exit 1; }
  if [ -e "$kit/brains" ]; then
    src=(-backgrounds all -shared "$kit/shared") # the kit holds the train and val brains
  elif [ -e "$kit/colin27" ]; then
    src=(-anatomy "$kit/colin27")
  else
    echo "gpu.sh: the kit holds no brain (neither .gpu/brains nor .gpu/colin27): make it again" >&2
    exit 1
  fi
  case "$recipe" in
  distil) ;;
  finetune)
    [ -e "$kit/init.pt" ] || { echo "gpu.sh: RECIPE=finetune goes on from weights: make the kit with INIT.pt" >&2; exit 1; } ;;
  *)
    echo "gpu.sh: RECIPE is distil or finetune, not $recipe" >&2
    exit 2 ;;
  esac
  if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi
  t0=$(date +%s)
  data=${DATA:-/tmp/gpu-trainset}
  cores=$(nproc)
  "$kit/trainset" "${src[@]}" -split train -n "${NTRAIN:-160}" -out "$data/train" -j $((cores > 3 ? cores - 2 : 1)) >"$out/gen-train.log" 2>&1 &
  gen=$!
  "$kit/trainset" "${src[@]}" -split val -n "${NVAL:-16}" -out "$data/val" -j 2 >"$out/gen-val.log" 2>&1 || { tail -5 "$out/gen-val.log"; exit 1; }
  wait "$gen" || { tail -5 "$out/gen-train.log"; exit 1; }
  echo "gpu.sh: generated $(ls "$data/train" | wc -l) train and $(ls "$data/val" | wc -l) val cases in $(($(date +%s) - t0)) s"
  extra=()
  if [ -e "$kit/init.pt" ]; then
    extra+=(--init "$kit/init.pt")
  fi
  if [ -n "${MINE:-}" ]; then
    extra+=(--mine "$MINE" --mine-cases "${MINE_CASES:-0}")
  fi
  if [ "$recipe" = distil ]; then
    extra+=(--base "${BASE:-5}" --teacher "${TEACHER:-models/metnet/metnet.pt}" --prune-from --distill "${DISTILL:-0.01}")
  else
    extra+=(--base "${BASE:-8}")
  fi
  PYTHONUNBUFFERED=1 $py models/recipe/train.py --train "$data/train" --val "$data/val" --out "$out" \
    --minutes "${MINUTES:-6}" --steps 30000 --batch "${BATCH:-12}" --patch "${PATCH:-96}" --lr "${LR:-1e-3}" --faint "${FAINT:-1.0}" \
    --seed "${SEED:-11}" "${extra[@]}" >"$out/train.out" 2>&1 || { tail -20 "$out/train.out"; exit 1; }
  grep -E "^device|^starting|^distilling|step [0-9]*00 |done|limit" "$out/train.out" | tail -15
  echo "gpu.sh: $(($(date +%s) - t0)) s in all"
  ;;
*)
  echo "usage: models/recipe/gpu.sh kit [INIT.pt] | run" >&2
  exit 2
  ;;
esac
