#!/usr/bin/env bash
# Patch size and width of the natural prior, chosen on natural/val at equal compute (issue 6).
#
#   bash lab/natural_sweep.sh [DATA=../shared/data] [OUT=runs/sweep] [MINUTES=18]
#
# Run from the repository root (`python -m lab.prior_evals` needs it). Trains each configuration
# from scratch for MINUTES of wall time on one thread (`restore train --minutes`), then scores it
# on the validation split only: the variational bound (bits/dim) on the central crops of
# natural/val at the prior's own size, and restoration PSNR of DDRM at 50 steps on 4 val crops of
# 128 px (tiled, as the full suite runs the natural prior), beside the shipped prior and a
# classical baseline per task. Rerunning resumes: finished trainings are kept, rows already in
# OUT/bench/rows.csv are skipped.
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-runs/sweep}
MINUTES=${3:-18}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"

common=(--channels 3 --scales 2 --rot90 --res-blocks 2 --lr 4e-4 --warmup 200 --ckpt-every 200
        --sample-every 0 --steps 1000000 --device cpu)
declare -A cfg=(
  [p32w32]="--size 32 --width 32 --mults 1,2,2 --batch 64"           # the shipped recipe
  [p32w64]="--size 32 --width 64 --mults 1,2,2 --batch 64"
  [p64w32]="--size 64 --width 32 --mults 1,2,2,2 --batch 32"
  [p32w32snr]="--size 32 --width 32 --mults 1,2,2 --batch 64 --weighting min-snr"
)
names=(p32w32 p32w64 p64w32 p32w32snr)

for n in "${names[@]}"; do
  if [ -f "$OUT/$n/done" ]; then continue; fi
  rm -rf "${OUT:?}/$n"
  # shellcheck disable=SC2086
  restore train "$DATA/natural/train" ${cfg[$n]} "${common[@]}" --minutes "$MINUTES" -o "$OUT/$n"
  touch "$OUT/$n/done"
done

for n in "${names[@]}"; do
  size=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["size"])' "$OUT/$n/config.json")
  echo "## $n (val bound at ${size} px)"
  python -m lab.prior_evals "$DATA/natural/val" "$OUT/$n" --num 32 --strata 25
done

priors=$(printf '%s\n' "${names[@]}" | sed "s|.*|&=$OUT/&@natural|" | paste -sd, -)
# the shipped prior (6,000 steps, 20x the compute) as a reference row
restore bench --suite full --data "$DATA" --split val --tune 0 --images 4 --tasks random,gauss,sr4 \
    --sigmas 0.025 --methods ddrm:50,biharmonic,wiener,bicubic --priors "$priors,shipped=natural@natural" \
    -o "$OUT/bench"
