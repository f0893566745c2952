"""Small array files in the paper authors' results layout, and where the real ones live."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def authors_arrays(runs: int = 3, arms: int = 2, epochs: int = 6, seed: int = 0) -> dict:
    """runs × arms × epochs curves (loss falls, accuracy in % rises) and runs × arms × 1 tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1)
    base = 2.0 + 3.0 * np.exp(-t / 3)
    noise = lambda: rng.uniform(-0.2, 0.2, (runs, arms, epochs))  # noqa: E731
    train_loss = base + noise()
    val_loss = base + 0.3 + noise()
    return {
        "train_losses": train_loss,
        "train_accuracy": np.clip(100 / train_loss + noise(), 0, 100),
        "val_losses": val_loss,
        "val_accuracy": np.clip(90 / val_loss + noise(), 0, 100),
        "test_losses": val_loss[:, :, -1:].copy(),
        "test_accuracy": rng.uniform(10, 30, (runs, arms, 1)),
    }


def write_authors_file(path: Path, arrays: dict | None = None, **shape: int) -> Path:
    """Save `arrays` (default: authors_arrays(**shape)) as an .npz file, as the authors did."""
    np.savez(path, **(arrays if arrays is not None else authors_arrays(**shape)))
    return path


def authors_results_dir() -> Path:
    """The paper authors' stored results, carried in the repository (data/paper-results)."""
    return REPO / "data" / "paper-results"
