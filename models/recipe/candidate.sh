#!/usr/bin/env bash
# models/recipe/candidate.sh — trained weights to a candidate model judged on
# the val brain, in one command on this machine (about 80 minutes on 2 cores):
#
#   models/recipe/candidate.sh WEIGHTS.pt OUT [VERSION]
#
# for the weights a lent GPU sends back (models/recipe/gpu.sh run) or
# train.sh leaves. In OUT:
#
#   val/          16 val cases on the model grid (trainset, the val brain),
#                 the INT8 calibration set
#   model/        fp32 and INT8 ONNX with reference outputs (export.py), the
#                 weights, the stages (rescore.json for VISIBLE studies,
#                 rescore-bright-only.json for bright-only ones) and both
#                 manifests
#   keys/, trust/ a throwaway signing key and a trust folder holding
#                 models/trust and its public half: a candidate is never
#                 signed with a shipping key, and no box trusts this one
#   eval-val/     tools/evaluate on the val brain, VISIBLE and bright-only:
#                 the FROC over accept levels the operating point is chosen on
#   eval-val-lesion-free/  the val brain's lesion-free studies: the study
#                 flag's specificity at every level
#   negatives/    tools/realcheck -negatives on the train and val brains
#                 (nothing inserted), counted at every FROC level
#
# Each stage's accept level is then chosen by the rule of models/MODEL.md
# (Second stage), models/oppoint: among the levels at which the train and
# val brains' real negatives meet issue 23's target and the val lesion-free
# studies' flag specificity is at least 90%, val's highest sensitivity at
# <= 0.3 FP/study; VISIBLE studies by their own figures, bright-only ones by
# theirs. The manifests are signed again with them. ACCEPT and
# ACCEPT_BRIGHT_ONLY, when set, override the rule's choices (and say so).
#
# The second stages are fitted on train seeds FROM.. (default 160: past the
# 160 a GPU run trains on, so the stage sees studies the network did not) of
# the train brains: the VISIBLE one on RESCORE_N studies (120) with a hidden
# layer of HIDDEN tanh units (8; 0 for a logistic stage) at penalty L2 (1),
# the choice made on the val brain for MetNet 0.6.5; the bright-only one on
# RESCORE_N_BRIGHT_ONLY studies (120) with HIDDEN_BRIGHT_ONLY units (8) at
# L2_BRIGHT_ONLY (1), the choice made for 0.6.6. Both carry the mass rule (MASS_VOXELS:
# a piece of core of 4000 voxels or more at the network's THRESHOLD keeps
# its peak; 0 for none). The held-out test brains are not touched; what scores them
# is printed at the end, once the operating point is fixed.
#
# Knobs (environment): BASE (8), ACCEPT and ACCEPT_BRIGHT_ONLY (the
# rule's), THRESHOLD (0.999: the network's level where no stage applies),
# MIN_MM3 (1), MASS_VOXELS (4000), FROM (160), RESCORE_N (120), HIDDEN (8),
# L2 (1), RESCORE_N_BRIGHT_ONLY (120), HIDDEN_BRIGHT_ONLY (8), L2_BRIGHT_ONLY (1), NVAL (16),
# EVAL_N (16), EVAL_LF_N (30), SHARED (../shared/data).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
weights=${1:?usage: models/recipe/candidate.sh WEIGHTS.pt OUT [VERSION]}
out=${2:?usage: models/recipe/candidate.sh WEIGHTS.pt OUT [VERSION]}
version=${3:-0.7.0-dev}
py=${PYTHON:-/usr/bin/python3}
shared=${SHARED:-$root/../shared/data}
[ -f "$weights" ] || { echo "candidate.sh: no weights at $weights" >&2; exit 1; }
weights=$(cd "$(dirname "$weights")" && pwd)/$(basename "$weights")
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"
t0=$(date +%s)
step() { echo "candidate.sh: $* ($(($(date +%s) - t0)) s)"; }

go build -o "$out/trainset" ./models/trainset
if [ ! -e "$out/val/.done" ]; then
  rm -rf "$out/val"
  "$out/trainset" -backgrounds all -shared "$shared" -split val -n "${NVAL:-16}" -out "$out/val" >"$out/val.log" 2>&1 ||
    { tail -5 "$out/val.log" >&2; exit 1; }
  touch "$out/val/.done"
fi
step "val cases in $out/val"

mkdir -p "$out/model"
$py models/recipe/export.py --weights "$weights" --calib "$out/val" --out "$out/model" \
  --calib-cases 4 --base "${BASE:-8}" >"$out/export.log" 2>&1 || { tail -20 "$out/export.log" >&2; exit 1; }
cp "$weights" "$out/model/metnet.pt"
train_json=$(dirname "$weights")/train.json
if [ -f "$train_json" ]; then
  cp "$train_json" "$out/model/train.json"
fi
step "exported to $out/model"

if [ ! -f "$out/keys/candidate.key" ]; then
  mkdir -p "$out/keys"
  go run ./tools/bundle keygen -dir "$out/keys" -name candidate >/dev/null
fi
rm -rf "$out/trust"
cp -r models/trust "$out/trust"
cp "$out/keys/candidate.pub" "$out/trust/"
# The peak working memory per voxel measured for the base-8 network (Speed
# and memory in models/MODEL.md); another width takes the runtime's default.
peak=()
if [ "${BASE:-8}" = 8 ]; then
  peak=(-peak-bytes-fp32 200 -peak-bytes-int8 1060)
fi
manifest=(go run ./models/mkmanifest -dir "$out/model" -version "$version" -threshold "${THRESHOLD:-0.999}"
  -min-mm3 "${MIN_MM3:-1}" "${peak[@]}" -key "$out/keys/candidate.key")
"${manifest[@]}" >"$out/mkmanifest.log" 2>&1 || { cat "$out/mkmanifest.log" >&2; exit 1; }

go run ./models/rescore -model "$out/model/metnet-fp32.manifest.json" -trust "$out/trust" \
  -backgrounds all -shared "$shared" -from "${FROM:-160}" -n "${RESCORE_N:-120}" -hidden "${HIDDEN:-8}" -l2 "${L2:-1}" \
  -mass-voxels "${MASS_VOXELS:-4000}" -mass-prob "${THRESHOLD:-0.999}" \
  -dump "$out/rescore-candidates.csv" -out "$out/model/rescore.json" >"$out/rescore.log" 2>&1 ||
  { tail -20 "$out/rescore.log" >&2; exit 1; }
go run ./models/rescore -bright-only -mass-voxels "${MASS_VOXELS:-4000}" -mass-prob "${THRESHOLD:-0.999}" \
  -model "$out/model/metnet-fp32.manifest.json" -trust "$out/trust" \
  -backgrounds all -shared "$shared" -from "${FROM:-160}" -n "${RESCORE_N_BRIGHT_ONLY:-120}" \
  -hidden "${HIDDEN_BRIGHT_ONLY:-8}" -l2 "${L2_BRIGHT_ONLY:-1}" \
  -dump "$out/rescore-bright-only-candidates.csv" -out "$out/model/rescore-bright-only.json" >"$out/rescore-bright-only.log" 2>&1 ||
  { tail -20 "$out/rescore-bright-only.log" >&2; exit 1; }
stages() { # VISIBLE accept, bright-only accept: sets stage_args
  stage_args=(-rescore "$out/model/rescore.json" -accept "$1"
    -rescore-bright-only "$out/model/rescore-bright-only.json" -accept-bright-only "$2")
}
stages 0.5 0.5
"${manifest[@]}" "${stage_args[@]}" >>"$out/mkmanifest.log" 2>&1 ||
  { cat "$out/mkmanifest.log" >&2; exit 1; }
step "stages fitted on train seeds from ${FROM:-160} (VISIBLE ${RESCORE_N:-120} studies, bright-only ${RESCORE_N_BRIGHT_ONLY:-120}), manifests signed with the candidate key"

go run ./tools/evaluate -q -backgrounds all -shared "$shared" -split val -n "${EVAL_N:-16}" -compare-bright-only \
  -model "$out/model/metnet-fp32.manifest.json" -trust "$out/trust" -out "$out/eval-val" >"$out/eval-val.log" 2>&1 ||
  { tail -20 "$out/eval-val.log" >&2; exit 1; }
step "val brain scored: $out/eval-val/report.md"
grep -E "^\| (lesion-wise sensitivity|false positives per case|sensitivity <3 mm|study flag specificity) " "$out/eval-val/report.md" | head -4

go run ./tools/evaluate -q -backgrounds all -shared "$shared" -split val -n "${EVAL_LF_N:-30}" -lesion-free -compare-bright-only \
  -model "$out/model/metnet-fp32.manifest.json" -trust "$out/trust" -out "$out/eval-val-lesion-free" >"$out/eval-val-lesion-free.log" 2>&1 ||
  { tail -20 "$out/eval-val-lesion-free.log" >&2; exit 1; }
step "val brain's lesion-free studies scored: $out/eval-val-lesion-free/report.md"
grep -E "^\| (false positives per case|study flag specificity) " "$out/eval-val-lesion-free/report.md" | head -2

levels=0.05,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,0.99,0.995,0.999 # tools/evaluate's FROC levels
go run ./tools/realcheck -negatives -shared "$shared" -brains "$("$out/trainset" -brains train,val | paste -sd, -)" \
  -levels "$levels" -model "$out/model/metnet-fp32.manifest.json" -trust "$out/trust" -out "$out/negatives" \
  >"$out/negatives.log" 2>&1 || { tail -20 "$out/negatives.log" >&2; exit 1; }
step "real negatives of the train and val brains at every level: $out/negatives/negatives.md"

rule=(-val "$out/eval-val/report.json" -val-lesion-free "$out/eval-val-lesion-free/report.json" -negatives "$out/negatives/negatives.json")
go run ./models/oppoint "${rule[@]}" >"$out/oppoint.log" 2>&1 || { cat "$out/oppoint.log" >&2; exit 1; }
chosen=$(sed -n 's/^level \([0-9.e-]*\): .*/\1/p' "$out/oppoint.log")
tail -1 "$out/oppoint.log"
accept=${ACCEPT:-$chosen}
[ "$accept" = "$chosen" ] || echo "candidate.sh: ACCEPT=$accept overrides the rule's $chosen"
go run ./models/oppoint -bright-only "${rule[@]}" >"$out/oppoint-bright-only.log" 2>&1 ||
  { cat "$out/oppoint-bright-only.log" >&2; exit 1; }
chosen_bright=$(sed -n 's/^level \([0-9.e-]*\): .*/\1/p' "$out/oppoint-bright-only.log")
echo "bright-only: $(tail -1 "$out/oppoint-bright-only.log")"
accept_bright=${ACCEPT_BRIGHT_ONLY:-$chosen_bright}
[ "$accept_bright" = "$chosen_bright" ] || echo "candidate.sh: ACCEPT_BRIGHT_ONLY=$accept_bright overrides the rule's $chosen_bright"
stages "$accept" "$accept_bright"
"${manifest[@]}" "${stage_args[@]}" >>"$out/mkmanifest.log" 2>&1 ||
  { cat "$out/mkmanifest.log" >&2; exit 1; }
step "manifests signed again at accept $accept (VISIBLE), $accept_bright (bright-only)"
cat <<EOF
Fixed before any held-out run: the stages' accept levels $accept (VISIBLE)
and $accept_bright (bright-only). Now score
the held-out brains once (models/MODEL.md, Reproduce), with
  -model $out/model/metnet-fp32.manifest.json -trust $out/trust
EOF
