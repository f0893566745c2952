"""What each of InitLab's speed choices is worth: variants of the real epoch, round-robin.

Every variant is a `core.training.bench.TrainBench` (the real `train_one_epoch` on resident uint8
data);
they differ in one choice each and are timed in turn, round after round, in one process:

    initlab   channels_last model and batches, fused AdamW    (what the runner does)
    nchw      the default NCHW layout instead                 (as the paper's code)
    foreach   foreach AdamW instead of fused                   (InitLab's earlier CPU default)
    compile   torch.compile(model), with --compile             (compile time reported)

    python bench/ablation.py --repeats 10            # mobilenet_v1, 32 px, batch 64, CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.training.bench import BenchConfig, TrainBench, apply_threads, describe_device  # noqa: E402


def variants(base: BenchConfig, with_compile: bool) -> dict[str, TrainBench]:
    """The benches to compare, each warmed up."""
    benches = {
        "initlab": TrainBench(base),
        "nchw": TrainBench(BenchConfig(**{**base.__dict__, "channels_last": False})),
        "foreach": TrainBench(base),
    }
    foreach = benches["foreach"]
    foreach.optimizer = torch.optim.AdamW(
        foreach.model.parameters(), lr=1e-3, weight_decay=0.01, foreach=True
    )
    if with_compile:
        benches["compile"] = TrainBench(BenchConfig(**{**base.__dict__, "compile": True}))
    for bench in benches.values():
        bench.warm_up()
    return benches


def ablate(base: BenchConfig, repeats: int, with_compile: bool) -> dict[str, Any]:
    """Median and best ms/step per variant, and each median's ratio to InitLab's."""
    threads = apply_threads(base)
    benches = variants(base, with_compile)
    seconds: dict[str, list[float]] = {name: [] for name in benches}
    for _ in range(repeats):
        for name, bench in benches.items():
            seconds[name].append(bench.train_epoch())
    steps = benches["initlab"].steps
    ms = {name: 1000 * statistics.median(s) / steps for name, s in seconds.items()}
    return {
        "model": base.model,
        "image_size": base.image_size,
        "batch_size": base.batch_size,
        "device": describe_device(benches["initlab"].device),
        "threads": threads,
        "ms_per_step": ms,
        "best_ms_per_step": {name: 1000 * min(s) / steps for name, s in seconds.items()},
        "slowdown_vs_initlab": {name: ms[name] / ms["initlab"] for name in ms},
        "compile_seconds": benches["compile"].compile_seconds if with_compile else None,
        "epoch_seconds": seconds,
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--compile", action="store_true", help="add a torch.compile variant")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = BenchConfig(
        model=args.model,
        image_size=args.image_size,
        batch_size=args.batch_size,
        examples=args.examples,
        device=args.device,
        threads=args.threads,
    )
    result = ablate(base, args.repeats, args.compile)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.model} {args.image_size}px batch {args.batch_size} on {result['device']}, "
        f"{result['threads']} threads"
    )
    for name, ms in result["ms_per_step"].items():
        print(
            f"  {name:8s} {ms:8.1f} ms/step (best {result['best_ms_per_step'][name]:.1f}), "
            f"x{result['slowdown_vs_initlab'][name]:.2f} of InitLab's time"
        )
    if result["compile_seconds"] is not None:
        print(f"  torch.compile took {result['compile_seconds']:.1f} s")


if __name__ == "__main__":
    main()
