#!/usr/bin/env bash
# GPU speed check, under 5 minutes on one H100/H200: for MobileNet v1, v2 and v3-small at 32 px,
# batch 64, 1000 classes, prints the paper-style reference loop against InitLab's real
# train_one_epoch (images/s, speed-up, data-path overhead ratio), InitLab's aggregate images/s
# with 1, 2 and 4 concurrent training processes on the GPU, and channels_last against NCHW;
# then (issue 12) MobileNet v1 at 32 px, batch 64, R=1 against the best R stacked repeats, and
# the estimated wall time of the Table I (32 px) and Table IV protocols from measured rates.
# First (issue 25) bench/gpu_verify.py checks what only a card shows and writes it as one JSON
# (gpu_verify.json, or $GPU_VERIFY_OUT): a deterministic fp32 run twice bit-equal, also after a
# tf32 run; memory back after a forced out-of-memory; stacked equal to single with and without
# Dropout; each slot on the card nvidia-smi names; stacked R = 1/4/16/64 at fp32, tf32, bf16.
# All of it in under ten minutes.
#
#   bash bench/gpu_check.sh            # PYTHON=... to choose the interpreter
#
# gpu_verify.py needs the project's dependencies; the rest only torch and torchvision.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  PY=python3
  if [ -x .venv/bin/python ] \
     && .venv/bin/python -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null
  then
    PY=.venv/bin/python
  fi
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"
print("torch", torch.__version__, "on", torch.cuda.get_device_name())' || exit 1
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

# Budget (s): verify 280 + stacked 100 + mobilenet_v1 70 + v2/v3 45 each + layout 30 = 570.
timeout 280 "$PY" bench/gpu_verify.py --device cuda --out "${GPU_VERIFY_OUT:-gpu_verify.json}" \
  || echo "gpu_verify failed or ran out of its 280 s (exit $?)"

# Stacked repeats first: the number issue 12 is about. Targets: ratio >= 10, Table IV <= 2 h.
timeout 100 "$PY" bench/gpu_stacked.py --device cuda \
  || echo "stacked check failed or ran out of its 100 s (exit $?)"

budget=(mobilenet_v1:70 mobilenet_v2:45 mobilenet_v3_small:45)
for entry in "${budget[@]}"; do
  model=${entry%%:*} seconds=${entry##*:}
  timeout "$seconds" "$PY" bench/compare.py --device cuda --models "$model" --image-size 32 \
    --batch-size 64 --examples 8192 --repeats 3 --concurrent 1,4 \
    || echo "$model: compare failed or ran out of its $seconds s (exit $?)"
done

# channels_last vs NCHW for InitLab's step on this GPU (Preprocess.channels_last picks one).
timeout 30 "$PY" - <<'PY' || echo "layout check failed or timed out"
import sys
sys.path.insert(0, ".")
from core.training.bench import BenchConfig, measure

for model in ("mobilenet_v1", "mobilenet_v3_small"):
    rates = {}
    for channels_last in (True, False):
        config = BenchConfig(model=model, device="cuda", examples=4096, repeats=3,
                             channels_last=channels_last)
        rates[channels_last] = measure(config)["images_per_second"]
    print(f"{model}: channels_last {rates[True]:.0f} img/s, NCHW {rates[False]:.0f} img/s, "
          f"ratio {rates[True] / rates[False]:.2f}")
PY
