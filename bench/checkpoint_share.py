"""The share of each epoch's wall time the training thread spends blocked on checkpointing, for
the code at a git ref ("before") and the working tree ("after"), side by side (issue 25 item 9).

Each round trains the same runs once with each code (alternating which goes first), each in a
subprocess whose PYTHONPATH holds that code (the ref's files come from `git archive`): small_cnn
on digits at 28 px, R members of one arm trained as one group (R = 1 and R = 4), a checkpoint
file per member on the local disk, every epoch. The child wraps the loop's own methods, the same
in both codes: an epoch is `Lockstep.run_epoch`; training and measuring are `train_epoch` and
`measure`; the rest of the epoch is checkpointing (snapshot, serialise, write, fsync and, after
the change, waiting for the writer thread) plus bookkeeping of microseconds.

    python bench/checkpoint_share.py --before 7421971 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def child(members: int, epochs: int) -> dict[str, float]:
    """In the subprocess: train one group with checkpoints; seconds per part of the epochs."""
    import core
    from core.spec import parse_spec
    from core.training.lockstep import Lockstep
    from core.training.runner import RunHooks, run_group

    code = Path(os.environ["PYTHONPATH"]).resolve()
    assert Path(core.__file__).resolve().is_relative_to(code), f"{core.__file__} not in {code}"
    seconds = {"epoch": 0.0, "train": 0.0, "measure": 0.0}

    def timed(part: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                seconds[part] += time.perf_counter() - began

        return wrapper

    Lockstep.run_epoch = timed("epoch", Lockstep.run_epoch)  # type: ignore[method-assign]
    Lockstep.train_epoch = timed("train", Lockstep.train_epoch)  # type: ignore[method-assign]
    Lockstep.measure = timed("measure", Lockstep.measure)  # type: ignore[method-assign]
    spec = parse_spec(
        {
            "name": "checkpoint-share",
            "model": "small_cnn",
            "dataset": {"name": "digits", "image_size": 28},
            "training": {"epochs": epochs, "batch_size": 64},
            "arms": [{"name": "a", "method": "original"}],
            "repeats": members,
            "execution": {"batch_repeats": members},
        }
    )
    with tempfile.TemporaryDirectory(dir=REPO / "var") as folder:
        hooks = [RunHooks(r, Path(folder) / f"{r}.pt") for r in range(members)]
        began = time.perf_counter()
        results = run_group(spec, "a", hooks)
        seconds["run"] = time.perf_counter() - began
    assert all(r.status == "done" for r in results), [r.error for r in results]
    seconds["checkpoint"] = seconds["epoch"] - seconds["train"] - seconds["measure"]
    return seconds


def measure(code: Path, members: int, epochs: int) -> dict[str, float]:
    """One child run on the code under `code`."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, str(Path(__file__).resolve()), "--child", str(members)]
    done = subprocess.run(
        [*args, "--epochs", str(epochs)], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def export(ref: str, folder: Path) -> Path:
    """The files of `ref` under `folder` (git archive)."""
    archive = folder / "code.tar"
    subprocess.run(["git", "archive", "-o", str(archive), ref], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "code", filter="data")
    return folder / "code"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git ref of the synchronous code")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--members", default="1,4", help="group sizes R")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.epochs)))
        return
    (REPO / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        codes = {"before": export(args.before, Path(scratch)), "after": REPO}
        for members in (int(m) for m in args.members.split(",")):
            shares: dict[str, list[float]] = {"before": [], "after": []}
            for n in range(args.rounds):
                order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
                for name in order:
                    s = measure(codes[name], members, args.epochs)
                    shares[name].append(s["checkpoint"] / s["epoch"])
                    print(
                        f"R={members} {name:6} round {n}: epoch {s['epoch']:.2f} s, "
                        f"checkpoint {s['checkpoint']:.3f} s ({s['checkpoint'] / s['epoch']:.1%})",
                        file=sys.stderr,
                    )
            before, after = (statistics.median(shares[k]) for k in ("before", "after"))
            print(
                f"R={members}: checkpointing {before:.1%} of epoch time before, {after:.1%} "
                f"after ({before / after:.1f}x less), medians of {args.rounds} rounds"
            )


if __name__ == "__main__":
    main()
