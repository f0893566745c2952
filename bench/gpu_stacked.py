"""Issue 12 on a GPU: R stacked repeats vs one, and what the paper's protocols would cost.

Times core's real training loop (core.training.bench.group_rate: train_members_epoch over a stacked
MobileNet v1) at 32 px for R = 1 and growing R, keeps the fastest aggregate images/s, times
stacked evaluation, and estimates the wall time of the Table I (32 px) and Table IV protocols
from those rates: every run's training and evaluation images (PROTOCOLS, checked against the
presets by tests/core/test_group.py), in groups of the best R, one group after another.

  python bench/gpu_stacked.py --device cuda            # about 90 s on an H100/H200
  python bench/gpu_stacked.py --device cpu --candidates 1,4 --cifar-candidates 2 --steps 1 \
      --eval-images 64

Needs only torch and torchvision (no pydantic), like the rest of bench/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models import build_model  # noqa: E402
from core.training.bench import MEAN, STD, group_rate, synchronize, synthetic_data  # noqa: E402
from core.training.stacked import stack_models  # noqa: E402
from core.training.train import Preprocess, evaluate_members  # noqa: E402

# What each protocol trains and measures (core/paper/presets.py; tests pin these to the presets).
# Arms: (fraction, epochs) of each training phase, stages first, main (1.0) last; every
# stage epoch and epoch 0 measure the sample, val and test; preprocess and main measure val
# and test (train metrics are the running ones, free).
PROTOCOLS: dict[str, dict[str, Any]] = {
    "table1-32": {
        "train": 1_281_167,
        "val": 50_000,
        "test": 10_000,  # ImageNetV2 TopImages
        "batch_size": 64,
        "classes": 1000,
        "repeats": 4,
        "arms": {
            "original": [(1.0, 1), (1.0, 50)],
            "smart-init": [(0.0125, 10), (0.125, 10), (1.0, 50)],
        },
    },
    "table4-cifar10": {
        "train": 45_000,
        "val": 5_000,
        "test": 10_000,
        "batch_size": 32,
        "classes": 10,
        "repeats": 40,
        "arms": {
            "original": [(1.0, 1), (1.0, 100)],
            "smart-init": [(0.01, 10), (0.1, 10), (1.0, 100)],
            "warm-start": [(0.5, 50), (1.0, 100)],
        },
    },
}


def images_per_run(protocol: dict[str, Any], phases: list[tuple[float, int]]) -> tuple[int, int]:
    """(training images, evaluation images) of one run of an arm."""
    n, measured = protocol["train"], protocol["val"] + protocol["test"]
    train = evaluated = 0
    for fraction, epochs in phases:
        size = round(fraction * n)
        train += size * epochs
        if fraction < 1.0:  # a stage: epoch 0 too, and its sample is evaluated
            evaluated += (epochs + 1) * (measured + size)
        else:
            evaluated += epochs * measured
    return train, evaluated


EVAL_IMAGES = 8192  # per timed evaluation pass


def eval_rate(
    members: int, image_size: int, classes: int, device: torch.device, n: int = EVAL_IMAGES
) -> float:
    """Aggregate images/s of stacked evaluation (eval batch 1024 shared by the members)."""
    torch.manual_seed(0)
    stacked = stack_models(
        [build_model("mobilenet_v1", classes).to(device) for _ in range(members)]
    )
    pre = Preprocess.build(MEAN, STD, normalize="standard", augment=False, device=device)
    images, labels = synthetic_data(n, image_size, classes, device)
    seconds = []
    for _ in range(3):
        synchronize(device)
        began = time.perf_counter()
        evaluate_members(stacked, images, labels, batch_size=1024, preprocess=pre)
        synchronize(device)
        seconds.append(time.perf_counter() - began)
    return members * len(labels) / min(seconds[1:])


def rates_for(
    candidates: list[int], batch_size: int, classes: int, device: torch.device, steps: int
) -> dict[int, float]:
    """Aggregate training images/s for each R, up to the first that runs out of memory."""
    rates: dict[int, float] = {}
    for r in candidates:
        try:
            rate = group_rate(
                "mobilenet_v1",
                r,
                image_size=32,
                batch_size=batch_size,
                num_classes=classes,
                device=device,
                steps=steps,
                repeats=2,
            )
        except torch.OutOfMemoryError:
            break
        if rate is None:
            break
        rates[r] = rate
        row = {"batch_size": batch_size, "R": r, "images_per_second": round(rate)}
        print(json.dumps(row), flush=True)
    return rates


def estimate(name: str, r: int, train_rate: float, evaluation: float) -> dict[str, Any]:
    """Wall hours of a protocol: arms one after another, repeats in groups of `r`."""
    protocol = PROTOCOLS[name]
    seconds = 0.0
    for phases in protocol["arms"].values():
        train, evaluated = images_per_run(protocol, phases)
        # A group's step takes as long as a full group's, however many members it has.
        groups = math.ceil(protocol["repeats"] / r)
        seconds += groups * r * (train / train_rate + evaluated / evaluation)
    return {"protocol": name, "R": r, "estimated_hours": round(seconds / 3600, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--candidates", default="1,4,16,64", help="R at batch 64 (1 and 4 needed)")
    p.add_argument("--cifar-candidates", default="10,20,40", help="R at batch 32 (Table IV)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--eval-images", type=int, default=EVAL_IMAGES)
    a = p.parse_args()
    device = torch.device(a.device)
    rates = rates_for([int(v) for v in a.candidates.split(",")], 64, 1000, device, a.steps)
    best = max(rates, key=lambda r: rates[r])
    summary = {"R=1": round(rates[1]), "best_R": best, "best": round(rates[best])}
    print(json.dumps({"mobilenet_v1 32px batch 64": summary | {"ratio": rates[best] / rates[1]}}))
    # Table I has 4 repeats: its groups are at most 4.
    table1 = estimate("table1-32", 4, rates[4], eval_rate(4, 32, 1000, device, a.eval_images))
    print(json.dumps(table1), flush=True)
    cifar = rates_for([int(v) for v in a.cifar_candidates.split(",")], 32, 10, device, a.steps)
    r = max(cifar, key=lambda k: cifar[k])
    evaluation = eval_rate(r, 32, 10, device, a.eval_images)
    print(json.dumps(estimate("table4-cifar10", r, cifar[r], evaluation)))


if __name__ == "__main__":
    main()
