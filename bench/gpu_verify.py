"""Issue 25 on a GPU: what only a real card shows, checked and written as one JSON object.

- determinism: a deterministic fp32 run twice, bit-equal metrics, also after a tf32 run in the
  same process (cuBLAS reads its workspace setting once per process);
- memory: back to its level after a forced out-of-memory, through worker.failures;
- stacked: R=2 stacked runs against the same runs alone, with and without Dropout;
- slots: each `initlab worker` slot's CUDA_VISIBLE_DEVICES names the card nvidia-smi names;
- throughput: stacked MobileNet v1 (32 px, batch 64, 1000 classes) at R = 1/4/16/64 under
  fp32, tf32 and bf16, each candidate timed over at least 0.5 s (core.training.group).

  python bench/gpu_verify.py --device cuda --out gpu_verify.json     # about 4 minutes
  python bench/gpu_verify.py --device cpu --quick                    # the code paths, on a CPU

Needs the project's dependencies (pydantic for the specs), not only torch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models import build_model  # noqa: E402
from core.spec import ExperimentSpec, parse_spec  # noqa: E402
from core.training.group import out_of_memory, timed_rate  # noqa: E402
from core.training.runner import RunHooks, load_run_data, run_group, run_single  # noqa: E402
from worker.failures import release_memory  # noqa: E402
from worker.launch import plan_slots  # noqa: E402


def spec(model: str, precision: str, deterministic: bool, size: int) -> ExperimentSpec:
    """Two repeats of a small synthetic experiment, stackable in one group."""
    return parse_spec(
        {
            "name": "gpu-verify",
            "model": model,
            "dataset": {"name": "synthetic", "image_size": size, "num_train": 1024 if size > 8
                        else 128},
            "training": {"epochs": 2, "batch_size": 64, "precision": precision,
                         "deterministic": deterministic},
            "arms": [{"name": "original", "method": "original"}],
            "repeats": 2,
            "execution": {"batch_repeats": 2},
            "seed": 3,
        }
    )


def numbers(result: Any) -> list[tuple[Any, ...]]:
    """What a run computed (its wall seconds aside)."""
    return [(m["phase"], m["epoch"], m["split"], m["loss"], m["accuracy"]) for m in result.metrics]


def determinism(device: str, size: int) -> dict[str, Any]:
    fixed = spec("small_cnn", "fp32", True, size)
    data = load_run_data(fixed, None, device)
    first = numbers(run_single(fixed, "original", 0, device=device, dataset=data))
    again = numbers(run_single(fixed, "original", 0, device=device, dataset=data))
    run_single(spec("small_cnn", "tf32", False, size), "original", 0, device=device, dataset=data)
    after_tf32 = numbers(run_single(fixed, "original", 0, device=device, dataset=data))
    return {"ok": first == again == after_tf32, "twice_equal": first == again,
            "equal_after_tf32": first == after_tf32}


def memory_after_oom(device: str) -> dict[str, Any]:
    if not device.startswith("cuda"):
        return {"ok": None, "skipped": "no CUDA device"}
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    failure: BaseException | None = None

    def hog() -> None:
        model = build_model("mobilenet_v1", 1000).to(device)  # what a failed run holds
        chunks = [model.state_dict()]
        while True:
            chunks.append(torch.empty(1 << 30, dtype=torch.uint8, device=device))

    try:
        hog()
    except RuntimeError as error:
        if not out_of_memory(error):
            raise
        failure = error
    peak = torch.cuda.max_memory_allocated()
    release_memory(failure)
    failure = None
    after = torch.cuda.memory_allocated()
    return {"ok": after <= baseline, "baseline_bytes": baseline, "peak_bytes": peak,
            "after_bytes": after, "reserved_after_bytes": torch.cuda.memory_reserved()}


def stacked_vs_single(device: str, size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in ("small_cnn", "mobilenet_v3_small"):  # the second has Dropout(0.2)
        s = spec(model, "fp32", True, size)
        data = load_run_data(s, None, device)
        group = run_group(s, "original", [RunHooks(0), RunHooks(1)], device=device, dataset=data)
        alone = [run_single(s, "original", r, device=device, dataset=data) for r in (0, 1)]
        worst_loss = worst_accuracy = 0.0
        for g, a in zip(group, alone, strict=True):
            for x, y in zip(g.metrics, a.metrics, strict=True):
                worst_loss = max(worst_loss, abs(x["loss"] - y["loss"]) / abs(y["loss"]))
                worst_accuracy = max(worst_accuracy, abs(x["accuracy"] - y["accuracy"]))
        # The CPU bound of tests/core/test_group.py for small_cnn's first epochs.
        out[model] = {"ok": worst_loss < 1e-3, "worst_relative_loss": worst_loss,
                      "worst_accuracy": worst_accuracy}
    return out


def slot_mapping() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"ok": None, "skipped": "no CUDA device"}
    listing = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"],
                             capture_output=True, text=True, check=False).stdout
    uuids = [line.split(",")[1].strip() for line in listing.splitlines() if "," in line]
    probe = "import torch; print(torch.cuda.get_device_properties(0).uuid)"
    slots = []
    for slot in plan_slots([str(i) for i in range(torch.cuda.device_count())], 1, 1):
        seen = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **slot.env},
                              capture_output=True, text=True, check=False).stdout.strip()
        slots.append({"slot": slot.name, "env": slot.env, "uuid": seen})
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    ok = None if inherited else all(
        i < len(uuids) and s["uuid"] and s["uuid"] in uuids[i] for i, s in enumerate(slots)
    )
    return {"ok": ok, "nvidia_smi": uuids, "inherited": inherited, "slots": slots}


def throughput(device: str, quick: bool) -> dict[str, Any]:
    precisions, members = (("fp32",), (1, 4)) if quick else (("fp32", "tf32", "bf16"),
                                                             (1, 4, 16, 64))
    rates: dict[str, Any] = {}
    for precision in precisions:
        for r in members:
            try:
                rate = timed_rate("mobilenet_v1", r, image_size=32, batch_size=64,
                                  num_classes=1000, device=torch.device(device),
                                  precision=precision)
            except RuntimeError as error:
                if not out_of_memory(error):
                    raise
                rate = None
            finally:
                release_memory()
            rates[f"{precision} R={r}"] = None if rate is None else round(rate)
    return {"images_per_second": rates}


def checked(name: str, check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One check's result with its seconds; an error is recorded, the others still run."""
    began = time.perf_counter()
    try:
        result = check()
    except Exception as error:  # a check that breaks is a finding, not the end of the run
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(f"{name}: {json.dumps(result)[:300]}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("gpu_verify.json"))
    parser.add_argument("--quick", action="store_true", help="small sizes: a CPU dry run")
    args = parser.parse_args()
    size = 8 if args.quick else 32
    report = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "determinism": checked("determinism", lambda: determinism(args.device, size)),
        "memory_after_oom": checked("memory", lambda: memory_after_oom(args.device)),
        "stacked_vs_single": checked("stacked", lambda: stacked_vs_single(args.device, size)),
        "slot_mapping": checked("slots", slot_mapping),
        "throughput": checked("throughput", lambda: throughput(args.device, args.quick)),
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
