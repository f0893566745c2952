#!/usr/bin/env bash
# GPU speed check, under 5 minutes on one H100/H200: for MobileNet v1, v2 and v3-small at 32 px,
# batch 64, 1000 classes, prints the paper-style reference loop against InitLab's real
# train_one_epoch (images/s, speed-up, data-path overhead ratio), InitLab's aggregate images/s
# with 1, 2 and 4 concurrent training processes on the GPU, and channels_last against NCHW.
#
#   bash bench/gpu_check.sh            # PYTHON=... to choose the interpreter
#
# Needs only torch and torchvision (no pydantic): it runs bench/compare.py, never the CLI.
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

# Each model gets at most 85 s: 3 x 85 s + the layout check stays under 5 minutes.
for model in mobilenet_v1 mobilenet_v2 mobilenet_v3_small; do
  timeout 85 "$PY" bench/compare.py --device cuda --models "$model" --image-size 32 \
    --batch-size 64 --examples 8192 --repeats 3 --concurrent 1,2,4 \
    || echo "$model: compare failed or ran out of its 85 s (exit $?)"
done

# channels_last vs NCHW for InitLab's step on this GPU (Preprocess.channels_last picks one).
timeout 30 "$PY" - <<'PY' || echo "layout check failed or timed out"
import sys
sys.path.insert(0, ".")
from core.bench import BenchConfig, measure

for model in ("mobilenet_v1", "mobilenet_v3_small"):
    rates = {}
    for channels_last in (True, False):
        config = BenchConfig(model=model, device="cuda", examples=4096, repeats=3,
                             channels_last=channels_last)
        rates[channels_last] = measure(config)["images_per_second"]
    print(f"{model}: channels_last {rates[True]:.0f} img/s, NCHW {rates[False]:.0f} img/s, "
          f"ratio {rates[True] / rates[False]:.2f}")
PY
