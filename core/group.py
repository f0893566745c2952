"""How many repeats of an arm train together (`execution.batch_repeats`), measured, not guessed.

`auto` is 1 on a CPU: measured on this project's 2-core CPU (bench/RESULTS.md), a stacked
model never beats training the repeats one by one (small_cnn 28 px, batch 64, R=8: 2,900 img/s
one by one, 2,650 stacked), because a CPU kernel is already busy at one member's size. On a GPU
one member leaves the device idle, so `auto` times a few steps at R = 1, 2, 4, ... and keeps the
fastest aggregate rate; the answer is cached per device, model and shape under the cache dir.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from core.bench import MEAN, STD, synchronize, synthetic_data
from core.models import build_model
from core.spec import ExperimentSpec
from core.stacked import try_stack
from core.train import Preprocess, make_optimizer, train_members_epoch

log = logging.getLogger(__name__)

PROBE_CANDIDATES = (1, 2, 4, 8, 16, 32, 64)
PROBE_STEPS = 6  # timed steps per candidate; the first pass (cuDNN autotuning) is not timed
PROBE_GAIN = 1.05  # a larger R must beat the best so far by 5% to be worth its memory


def cache_dir() -> Path:
    """Where measured answers are kept: $INITLAB_CACHE_DIR, else ./var/cache (the state dir)."""
    return Path(os.environ.get("INITLAB_CACHE_DIR") or "var/cache")


def group_rate(
    model: str,
    members: int,
    *,
    image_size: int,
    batch_size: int,
    num_classes: int,
    device: torch.device,
    steps: int = PROBE_STEPS,
    repeats: int = 1,
) -> float | None:
    """Aggregate images/s of `members` stacked networks in core's real training loop.

    None when the model cannot be stacked (the log says why). Synthetic uint8 data, resident on
    the device; every member trains on all of it, each in its own order.
    """
    torch.manual_seed(0)
    nets = [build_model(model, num_classes).to(device) for _ in range(members)]
    stacked = try_stack(nets, image_size)
    if stacked is None:
        return None
    del nets
    optimizer = make_optimizer(
        "adamw", stacked.parameters(), lr=1e-3, weight_decay=0.01, device=device
    )
    preprocess = Preprocess.build(MEAN, STD, normalize="standard", augment=False, device=device)
    images, labels = synthetic_data(steps * batch_size, image_size, num_classes, device)
    seconds = []
    for epoch in range(repeats + 1):  # the first pass warms up allocator and cuDNN
        generators = [torch.Generator().manual_seed(epoch * 1000 + m) for m in range(members)]
        synchronize(device)
        began = time.perf_counter()
        train_members_epoch(
            stacked,
            optimizer,
            images,
            labels,
            batch_size=batch_size,
            preprocess=preprocess,
            generators=generators,
        )
        synchronize(device)
        if epoch:
            seconds.append(time.perf_counter() - began)
    return members * len(labels) / statistics.median(seconds)


def measure_batch_repeats(values: tuple[int, ...], **shape: Any) -> list[dict[str, Any]]:
    """[{R, images_per_second, ratio}] for each R (R=1 always measured: the ratio's base)."""
    rates = {r: group_rate(members=r, **shape) for r in sorted({1, *values})}
    base = rates[1]
    rows = []
    for r in values:
        rate = rates[r]
        ratio = None if rate is None or base is None else rate / base
        rows.append({"R": r, "images_per_second": rate, "ratio": ratio})
    return rows


def probe_best(model: str, limit: int, **shape: Any) -> int:
    """The R, up to `limit`, with the best aggregate rate; stops at the first that fails or
    does not pay (out of memory counts as failing)."""
    best, best_rate = 1, 0.0
    for r in (c for c in PROBE_CANDIDATES if c <= limit):
        try:
            rate = group_rate(model, r, **shape)
        except torch.OutOfMemoryError:
            break
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if rate is None or rate < best_rate * PROBE_GAIN:
            break
        best, best_rate = r, rate
    return best


def device_key(device: torch.device) -> str:
    """A cache key part naming the device model, e.g. 'cuda:NVIDIA H200'."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def resolve_batch_repeats(
    spec: ExperimentSpec, device: torch.device, image_size: int, num_classes: int
) -> int:
    """R for this experiment on `device`: the spec's integer, or what `auto` measures."""
    wanted = spec.execution.batch_repeats
    if wanted != "auto":
        return min(wanted, spec.repeats)
    if device.type != "cuda" or spec.repeats == 1:
        return 1
    batch = spec.training.batch_size
    shape = f"{image_size}px|b{batch}|c{num_classes}"
    key = f"{device_key(device)}|{spec.model}|{shape}|torch {torch.__version__}"
    path = cache_dir() / "batch_repeats.json"
    cached: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_text())
    if key not in cached:
        cached[key] = probe_best(
            spec.model,
            spec.repeats,
            image_size=image_size,
            batch_size=batch,
            num_classes=num_classes,
            device=device,
        )
        log.info("batch_repeats auto: measured R=%d for %s", cached[key], key)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached, indent=1))
    return min(cached[key], spec.repeats)


def repeat_groups(repeats: int, size: int) -> list[list[int]]:
    """Repeats 0..repeats-1 in consecutive groups of at most `size`."""
    return [list(range(s, min(s + size, repeats))) for s in range(0, repeats, size)]
