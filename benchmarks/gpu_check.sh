#!/usr/bin/env bash
# One-shot GPU check for a fresh CUDA machine that already has torch (< 8 minutes on an H100/H200 class GPU):
#   1. pip install -e . (no dependency downloads: --no-deps; the machine may be offline),
#   2. the GPU-marked tests (pytest -m gpu; with Ray installed they include the batch run with one Ray actor
#      per GPU on cuda:0: a local Ray cluster and two tiny clips, 16 s on 2 CPU cores),
#   3. benchmarks/speed.py at 960x536 (the paper's timing size) for fp32, bf16 and fp16, each with key
#      look-ahead off (0) and on (4): whole-engine s/frame without per-stage hooks (hooks synchronise the
#      GPU), then one bf16 run with stages. 6 warm-up + 42 frames: with the engine's output thread (2 frames
#      behind) the steady window times steps 8..47, whole look-ahead batches of 4.
# Worst case (every step hitting its timeout) stays under 8 minutes; a normal run takes 1-3.
# Results (JSON, logs, nvidia-smi) go to the folder given as $1, else $OUT, else benchmarks/results/gpu-check.
# Usage: bash benchmarks/gpu_check.sh [OUTDIR]
set -u
cd "$(dirname "$0")/.."
DEST="${1:-${OUT:-benchmarks/results/gpu-check}}"
mkdir -p "$DEST"
PY="${PYTHON:-python}"
START=$(date +%s)
log() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$DEST/gpu_check.log"; }

log "python: $($PY -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1)"
nvidia-smi > "$DEST/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed"
if ! $PY -m pip install -q --no-deps --no-build-isolation -e . > "$DEST/pip.log" 2>&1; then
    log "pip install -e . failed (see pip.log); running from src/ via PYTHONPATH"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
missing=$($PY - <<'PY'
import importlib
print(" ".join(m for m in ("numpy", "PIL", "av", "skimage", "pytest") if importlib.util.find_spec(m) is None))
PY
)
[ -n "$missing" ] && log "missing modules (not installed by this script): $missing"

if $PY -c 'import pytest' 2>/dev/null; then
    timeout 150 $PY -m pytest -q -m gpu -p no:cacheprovider tests > "$DEST/pytest-gpu.log" 2>&1
    log "GPU tests: rc=$? ($(tail -n 1 "$DEST/pytest-gpu.log"))"
else
    log "pytest missing: GPU tests not run"
fi

ENCODE=h264
$PY -c 'import av' 2>/dev/null || ENCODE=png
for prec in fp32 bf16 fp16; do
    timeout 80 $PY benchmarks/speed.py --device cuda --sizes 960x536 --precision "$prec" --frames 42 --warmup 6 \
        --lookahead 0,4 --no-stages --encode "$ENCODE" -q --out "$DEST/speed-960x536-$prec.json" --overwrite \
        > "$DEST/speed-$prec.log" 2>&1
    log "speed $prec: rc=$?"
    grep '| 960x536' "$DEST/speed-$prec.log" | tee -a "$DEST/gpu_check.log"
done
timeout 60 $PY benchmarks/speed.py --device cuda --sizes 960x536 --precision bf16 --frames 8 --warmup 4 --lookahead 4 \
    --encode "$ENCODE" -q --out "$DEST/speed-960x536-bf16-stages.json" --overwrite > "$DEST/speed-stages.log" 2>&1
log "per-stage bf16 run: rc=$?"
cat "$DEST/speed-stages.log" >> "$DEST/gpu_check.log"
log "done; results in $DEST"
