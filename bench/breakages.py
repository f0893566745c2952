"""Applies each known breakage of core/training/runner.py to a scratch copy of the tree and runs
the tests.

A benchmark of the suite, not part of CI: every breakage must turn at least one test red. The
checkout itself is never modified. Usage (from the repository root):

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python bench/breakages.py [TEST ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/core/test_runner.py", "tests/core/test_resume_pairing.py"]

# name -> (file, original text, broken text). Each mirrors a fault the suite once missed.
BREAKAGES = {
    # Reads the checkpoint, then trains every epoch again from the initial weights.
    "resume retrains from scratch": (
        "core/training/runner.py",
        "start, first_epoch, saved = self.restore(load_checkpoint(checkpoint_path))",
        "load_checkpoint(checkpoint_path)",
    ),
    # The main phase's order then depends on how many stages came before it.
    "order seeded by phase position": (
        "core/training/runner.py",
        'generator=generator_for(seed, "order", repeat, phase.name, epoch)',
        'generator=generator_for(seed, "order", repeat, phase.index, epoch)',
    ),
}


def scratch_copy(into: Path) -> None:
    """The working tree's tracked and untracked (not ignored) files, copied under `into`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = into / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def failing_tests(tree: Path, tests: list[str]) -> list[str]:
    """The ids of the tests that fail in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *tests],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    return [line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAILED")]


def main(tests: list[str]) -> int:
    """Apply every breakage in turn; exit 1 when one leaves the selected tests green."""
    missed = 0
    for name, (path, original, broken) in BREAKAGES.items():
        with tempfile.TemporaryDirectory(prefix="initlab-breakage-") as tmp:
            tree = Path(tmp)
            scratch_copy(tree)
            source = (tree / path).read_text()
            if source.count(original) != 1:
                print(f"{name}: {path} no longer contains {original!r}; update BREAKAGES")
                return 2
            (tree / path).write_text(source.replace(original, broken))
            failed = failing_tests(tree, tests)
        missed += not failed
        print(f"{name}: {len(failed)} failing" + "".join(f"\n  {t}" for t in failed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or TESTS))
