#!/usr/bin/env bash
# One command for a lent GPU (benchmarks/notes/gpu-session.md):
#   bash lab/gpu_session.sh CROPS [MINUTES] [VAL.npz]
# CROPS: a folder of whole training photos (`python -m lab.pack_crops ... --whole`) or a crops .npz.
# (a) CUDA smoke test (~1 min), (b) `restore train` continuing the shipped natural prior with its
# recipe for MINUTES (default 6), a checkpoint every minute, (c) export (fp16), a sample grid and
# `restore eval` of the new prior and the shipped one on VAL.npz if given. Small results only go to
# $OUT (default ./out); checkpoints stay in $RESTORE_WORK (default /tmp/restore-gpu-run).
# Overrides: RESTORE_DEVICE (cuda), RESTORE_TOY=1 (toy sizes, for a CPU dry run), RESTORE_BATCH,
# RESTORE_LR, RESTORE_COMPILE=1 (torch.compile; then one invocation, no per-minute chunks),
# RESTORE_CHUNK_MIN (1: minutes per train invocation), RESTORE_PY (python), RESTORE_WORK.
set -uo pipefail
CROPS=${1:?usage: bash lab/gpu_session.sh CROPS [MINUTES] [VAL.npz]}
MINUTES=${2:-6}
VAL=${3:-}
OUT=${OUT:-./out}
DEVICE=${RESTORE_DEVICE:-cuda}
PY=${RESTORE_PY:-python}
WORK=${RESTORE_WORK:-/tmp/restore-gpu-run}
TOY=${RESTORE_TOY:-0}
COMPILE=${RESTORE_COMPILE:-0}
if [ "$TOY" = 1 ]; then
  BATCH=${RESTORE_BATCH:-8}; SMOKE_T=60; SMOKE_BATCH=16; EVAL_NUM=4; EVAL_STRATA=4; SAMPLE_STEPS=5; EVAL_SCALES="1"
else
  BATCH=${RESTORE_BATCH:-512}; SMOKE_T=90; SMOKE_BATCH=256; EVAL_NUM=32; EVAL_STRATA=50; SAMPLE_STEPS=50; EVAL_SCALES="1 0.5"
fi
LR=${RESTORE_LR:-2e-4}
CHUNK=${RESTORE_CHUNK_MIN:-1}  # minutes per train invocation (= the checkpoint interval)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TIMES="$OUT/times.txt"; : > "$TIMES"
export PYTHONUNBUFFERED=1
T0=$(date +%s)
step() {  # step NAME TIMEOUT_S CMD...: run with a timeout, print and record its time and status
  local name=$1 lim=$2; shift 2
  local t=$(date +%s)
  echo "== $name (timeout ${lim}s): $*"
  timeout --kill-after=10 "$lim" "$@"; local rc=$?
  local line="$name: $(( $(date +%s) - t )) s, rc $rc (total $(( $(date +%s) - T0 )) s)"
  echo "== $line"; echo "$line" >> "$TIMES"
  return $rc
}
die() { echo "gpu_session: $*" >&2; echo "FAILED: $*" >> "$TIMES"; exit 1; }

[ -e "$CROPS" ] || die "no crops file or folder $CROPS (python -m lab.pack_crops ../shared/data/natural/train runs/gpu/photos --whole)"
[ -f priors/shipped/natural.safetensors ] || die "run from the repository root (priors/shipped/natural.safetensors)"

# -- (a) smoke: the imports of the training path, CUDA, one bf16 train step, then CPU unit tests
step imports 120 "$PY" - <<'PY' || die "a Python package is missing (see above); the host needs: torch numpy safetensors click tqdm pillow kornia scikit-image PyWavelets (pip install -e . offline from wheels)"
import importlib, sys
missing = []
for m in ("torch", "numpy", "safetensors", "click", "tqdm", "PIL", "kornia", "skimage", "pywt", "restore.cli",
          "restore.priors.train"):
    try:
        importlib.import_module(m)
    except Exception as e:
        missing.append(f"{m} ({type(e).__name__}: {e})")
if missing:
    print("missing:", *missing, sep="\n  ", file=sys.stderr); sys.exit(1)
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
PY
step smoke "$SMOKE_T" env DEVICE="$DEVICE" B="$SMOKE_BATCH" "$PY" - <<'PY' || die "device smoke test failed"
import os, time, torch
from restore.priors import load_prior
from restore.priors.train import forward_precision
dev = torch.device(os.environ["DEVICE"])
if dev.type == "cuda":
    assert torch.cuda.is_available(), "CUDA is not available"
    print(torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
prior = load_prior("priors/shipped/natural.safetensors", device=dev)
net = prior.net.float().train().requires_grad_(True)
opt = torch.optim.Adam(net.parameters(), lr=1e-5)
B = int(os.environ["B"])
x = torch.randn(B, 3, 32, 32, device=dev).clamp(-1, 1)
t = torch.randint(1, 1001, (B,), device=dev)
for i in range(3):
    t0 = time.perf_counter()
    with forward_precision(dev, "bf16"):
        loss = prior.loss(x, t, torch.randn_like(x), None).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    if dev.type == "cuda": torch.cuda.synchronize()
    print(f"bf16 train step {i}: loss {loss.item():.4f}, {1e3 * (time.perf_counter() - t0):.1f} ms (batch {B})")
assert torch.isfinite(loss)
PY
step tests "$SMOKE_T" "$PY" -m pytest -q -x -p no:cacheprovider tests/test_prior_math.py tests/test_schedule.py \
  tests/test_unet.py || die "unit tests failed"

# -- (b) train: the shipped natural recipe (priors/shipped/natural.md, version 2: 80 % of t on 1..250), from its weights
RUN="$WORK/natural-gpu"
rm -rf "$RUN"; mkdir -p "$WORK"
ARGS=(--size 32 --channels 3 --scales 2 --rot90 --width 32 --mults 1,2,2 --res-blocks 2 --norm-groups 8
      --batch "$BATCH" --lr "$LR" --warmup 100 --ckpt-every 1000000 --sample-every 0 --log-every 20
      --t-focus 250 --focus-share 0.8 --device "$DEVICE" --precision bf16 --seed 7 --init priors/shipped/natural.safetensors \
      --steps 100000000 -o "$RUN")
[ "$TOY" = 1 ] && ARGS+=(--log-every 2)
if [ "$COMPILE" = 1 ]; then  # one invocation (compiling again each minute would cost more than it saves)
  step train 540 "$PY" -m restore.cli train "$CROPS" "${ARGS[@]}" --compile --minutes "$MINUTES" 2>&1 \
    | grep -v '^\s*$' | tail -n 40
else  # a checkpoint every minute: one-minute invocations, each resuming the last
  n=$("$PY" -c "import math; print(max(1, math.ceil($MINUTES / $CHUNK - 1e-9)))"); chunk=$("$PY" -c "print($MINUTES / $n)")
  for i in $(seq 1 "$n"); do
    R=(); [ "$i" -gt 1 ] && R=(--resume)
    step "train $i/$n" 150 "$PY" -m restore.cli train "$CROPS" "${ARGS[@]}" "${R[@]}" --minutes "$chunk" 2>&1 \
      | tr '\r' '\n' | grep -v '^\s*$' | tail -n 2 || break
  done
fi
cp "$RUN/log.jsonl" "$OUT/log.jsonl" 2>/dev/null
"$PY" - "$RUN/log.jsonl" <<'PY' | tee -a "$TIMES"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
if recs:
    r = recs[-1]
    rate = sorted(x["images_per_s"] for x in recs)[len(recs) // 2]
    print(f"trained: {r['step']} steps, {r['images_seen']} crops, {r['seconds']} s in the loop, "
          f"median {rate} img/s, last loss {r['loss']}")
else:
    print("trained: no log records")
PY

# -- (c) export, sample grid, eval
step export 120 "$PY" -m restore.cli export "$RUN" -o "$OUT/natural-gpu.safetensors" --overwrite \
  --data "BSDS500 natural/train crops ($(basename "$CROPS"))" --licence "research use (BSDS500)" \
  --use "natural prior, continued on a GPU" || die "export failed"
step sample 120 "$PY" -m restore.cli sample "$OUT/natural-gpu.safetensors" -o "$OUT/samples.png" \
  --num 64 --steps "$SAMPLE_STEPS" --device "$DEVICE"
if [ -n "$VAL" ] && [ -f "$VAL" ]; then
  for s in $EVAL_SCALES; do
    for p in "$OUT/natural-gpu.safetensors" natural; do
      echo "# $p scale $s" >> "$OUT/eval.txt"
      step "eval $(basename "$p") scale $s" 240 "$PY" -m restore.cli eval "$p" "$VAL" --num "$EVAL_NUM" \
        --strata "$EVAL_STRATA" --scale "$s" --device "$DEVICE" 2>&1 | tee -a "$OUT/eval.txt" | grep -E "bound|rror"
    done
  done
fi
echo "== done in $(( $(date +%s) - T0 )) s; in $OUT:"; ls -l "$OUT"
