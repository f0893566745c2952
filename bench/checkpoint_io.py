"""Checkpoint write and read time of a MobileNet v1 checkpoint: a local folder against an S3
endpoint (moto's server, started here on a free port), through the worker's own code.

A checkpoint as a run writes it: the model's weights and its AdamW state after one step
(exp_avg, exp_avg_sq), 1000 classes. Each round times, alternating the two roots:
- local write: core.training.checkpoint.save_checkpoint into the artifact folder (serialise,
  write a temporary file, fsync, rename): what an epoch costs on a local root;
- S3 write: the same save into the scratch folder, then store.artifacts.Artifacts.push (one
  PUT): what an epoch costs on an s3:// root;
- read: Artifacts.fetch (copy the committed checkpoint and check that it loads) then
  load_checkpoint, as a resume does.

  python bench/checkpoint_io.py --rounds 10 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models import build_model  # noqa: E402
from core.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from store.artifacts import Artifacts  # noqa: E402


def checkpoint_state() -> dict[str, Any]:
    """MobileNet v1 (1000 classes) weights and AdamW state after one step at 32 px."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v1", 1000)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = model(torch.randn(2, 3, 32, 32)).sum()
    loss.backward()
    optimiser.step()
    return {"model": model.state_dict(), "optimizer": optimiser.state_dict(), "history": []}


def timed(action: Callable[[], None]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def one_round(roots: dict[str, Artifacts], state: dict[str, Any], n: int) -> dict[str, float]:
    """Write then read one checkpoint on each root; seconds per (root, operation)."""
    out = {}
    for name, artifacts in roots.items():
        key, copy = f"1.{2 * n + 1}.pt", f"1.{2 * n + 2}.pt"

        def write(artifacts: Artifacts = artifacts, key: str = key) -> None:
            save_checkpoint(state, artifacts.local_file(key))
            artifacts.push(1, key)

        def read(artifacts: Artifacts = artifacts, key: str = key, copy: str = copy) -> None:
            artifacts.fetch(1, key, artifacts.local_file(copy))
            load_checkpoint(artifacts.local_file(copy))

        out[f"{name} write"] = timed(write)
        out[f"{name} read"] = timed(read)
        artifacts.drop_older(1, 2 * n + 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from tests.service.s3_server import s3_server, unique_prefix

    state = checkpoint_state()
    with tempfile.TemporaryDirectory() as tmp, s3_server() as s3:
        env = s3.env(unique_prefix("bench"))
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ[name] = env[name]
        roots = {
            "local": Artifacts(f"{tmp}/artifacts", Path(tmp) / "unused"),
            "s3": Artifacts(env["INITLAB_ARTIFACT_URL"], Path(tmp) / "scratch", s3.url),
        }
        one_round(roots, state, 0)  # warm-up: connections, page cache
        save_checkpoint(state, Path(tmp) / "size.pt")
        size_mb = (Path(tmp) / "size.pt").stat().st_size / 1e6
        rounds = [one_round(roots, state, n) for n in range(1, args.rounds + 1)]
    report = {
        "checkpoint_mb": round(size_mb, 2),
        "rounds": args.rounds,
        "seconds": {
            op: {
                "median": round(statistics.median(r[op] for r in rounds), 4),
                "min": round(min(r[op] for r in rounds), 4),
                "max": round(max(r[op] for r in rounds), 4),
            }
            for op in rounds[0]
        },
        "s3_over_local": {
            op: round(statistics.median(r[f"s3 {op}"] / r[f"local {op}"] for r in rounds), 2)
            for op in ("write", "read")
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"MobileNet v1 checkpoint, {report['checkpoint_mb']} MB, {args.rounds} rounds")
    for op, figures in report["seconds"].items():
        print(f"{op:<12} median {figures['median']:.3f} s  (min {figures['min']:.3f}, "
              f"max {figures['max']:.3f})")
    print(f"S3 / local, median of per-round ratios: {report['s3_over_local']}")


if __name__ == "__main__":
    main()
