"""The paper's loop against InitLab's `train_one_epoch`, interleaved in one process.

Each round times one reference epoch, the reference's compute-only pass (its model and
optimiser on batches collated beforehand), one InitLab epoch and one InitLab compute-only pass
(forward + backward + step on pre-normalised batches), in that order; after a warm-up round,
`--repeats` rounds are timed and medians reported. Speed-up and overhead are the medians of the
per-round ratios, since the rounds of a round share the machine's load.

    python bench/compare.py                              # CPU, mobilenet_v1, 32 px, batch 64
    python bench/compare.py --device cuda --models mobilenet_v1,mobilenet_v2 --concurrent 1,2,4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference_loop import ReferenceLoop  # noqa: E402

from core.training.bench import (  # noqa: E402
    BenchConfig,
    TrainBench,
    apply_threads,
    describe_device,
    measure_concurrent,
)


def compare(config: BenchConfig, repeats: int) -> dict[str, Any]:
    """Reference and InitLab images/s, speed-up and InitLab's overhead ratio for one model."""
    threads = apply_threads(config)
    reference = ReferenceLoop(
        config.model,
        config.image_size,
        config.batch_size,
        config.examples,
        config.num_classes,
        config.device,
        seed=config.seed,
    )
    initlab = TrainBench(config)
    try:
        reference.epoch()
        initlab.warm_up()
        reference.compute_epoch()
        ref_s, ref_compute_s, ours_s, compute_s = [], [], [], []
        for _ in range(repeats):
            ref_s.append(reference.epoch())
            ref_compute_s.append(reference.compute_epoch())
            ours_s.append(initlab.train_epoch())
            compute_s.append(initlab.compute_epoch())
    finally:
        reference.close()
    n_ref, n_ours = reference.examples, initlab.examples_per_epoch
    ref_rate = [n_ref / s for s in ref_s]
    ours_rate = [n_ours / s for s in ours_s]
    return {
        "model": config.model,
        "image_size": config.image_size,
        "batch_size": config.batch_size,
        "examples": config.examples,
        "device": describe_device(initlab.device),
        "threads": threads,
        "channels_last": initlab.preprocess.channels_last,
        "compile_seconds": initlab.compile_seconds,
        "reference_images_per_second": statistics.median(ref_rate),
        "reference_compute_only_images_per_second": statistics.median(
            n_ref / s for s in ref_compute_s
        ),
        "reference_overhead_ratio": statistics.median(
            r / c for r, c in zip(ref_s, ref_compute_s, strict=True)
        ),
        "images_per_second": statistics.median(ours_rate),
        "compute_only_images_per_second": statistics.median(n_ours / s for s in compute_s),
        "speedup": statistics.median(o / r for o, r in zip(ours_rate, ref_rate, strict=True)),
        "overhead_ratio": statistics.median(o / c for o, c in zip(ours_s, compute_s, strict=True)),
        # Best epochs: on a shared machine the fastest pass is the one least disturbed.
        "best_reference_images_per_second": max(ref_rate),
        "best_images_per_second": max(ours_rate),
        "best_compute_only_images_per_second": n_ours / min(compute_s),
        "best_reference_compute_only_images_per_second": n_ref / min(ref_compute_s),
        "best_speedup": max(ours_rate) / max(ref_rate),
        "best_overhead_ratio": min(ours_s) / min(compute_s),
        "reference_epoch_seconds": ref_s,
        "reference_compute_only_epoch_seconds": ref_compute_s,
        "epoch_seconds": ours_s,
        "compute_only_epoch_seconds": compute_s,
        "torch": torch.__version__,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v1", help="comma-separated")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=2048, help="images per timed epoch")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-channels-last", action="store_true", help="InitLab in NCHW")
    parser.add_argument("--compile", action="store_true", help="torch.compile InitLab's model")
    parser.add_argument("--concurrent", default="", help="e.g. 1,2,4: aggregate InitLab img/s")
    parser.add_argument("--json", action="store_true", help="one JSON object per model")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    for model in args.models.split(","):
        config = BenchConfig(
            model=model,
            image_size=args.image_size,
            batch_size=args.batch_size,
            examples=args.examples,
            num_classes=args.num_classes,
            device=args.device,
            threads=args.threads,
            channels_last=False if args.no_channels_last else None,
            compile=args.compile,
            repeats=args.repeats,
        )
        result = compare(config, args.repeats)
        counts = [int(n) for n in args.concurrent.split(",") if n]
        result["concurrent"] = [measure_concurrent(config, n) for n in counts]
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(
            f"{model} {args.image_size}px b{args.batch_size} on {result['device']}: "
            f"reference {result['reference_images_per_second']:.0f} img/s (compute-only "
            f"{result['reference_compute_only_images_per_second']:.0f}), "
            f"InitLab {result['images_per_second']:.0f} img/s "
            f"(x{result['speedup']:.2f}), compute-only "
            f"{result['compute_only_images_per_second']:.0f} img/s, "
            f"overhead ratio {result['overhead_ratio']:.3f} (medians; best epochs: "
            f"x{result['best_speedup']:.2f}, overhead {result['best_overhead_ratio']:.3f})",
            flush=True,
        )
        for c in result["concurrent"]:
            print(
                f"  {c['processes']} concurrent: {c['aggregate_images_per_second']:.0f} img/s "
                f"aggregate",
                flush=True,
            )


if __name__ == "__main__":
    main()
