"""The seeds a run draws from (core.training.phases.derive_seed, initial_model) and the optimiser
the main
phase trains with after the `original` arm's preprocessing epochs."""

from __future__ import annotations

from pathlib import Path

from core.data.base import Dataset
from core.training.checkpoint import load_checkpoint
from core.training.phases import derive_seed, initial_model, state_fingerprint
from core.training.runner import run_single
from tests.core.conftest import tiny_spec


def test_derived_seeds_span_63_bits() -> None:
    # 63 bits: a seed torch takes as a signed 64-bit integer, with no bit of the range wasted.
    seeds = [derive_seed(0, "purpose", i) for i in range(200)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert max(seeds) >= 2**62  # all 200 below 2**62 has probability 2**-200
    assert len(set(seeds)) == len(seeds)


def init_print(seed: int, purpose: str, repeat: int = 0) -> str:
    return state_fingerprint(initial_model(tiny_spec(seed=seed), repeat, 10, purpose))


def test_the_initial_network_depends_on_the_experiments_seed() -> None:
    assert init_print(0, "init") == init_print(0, "init")
    assert init_print(0, "init") != init_print(1, "init")


def test_the_fresh_network_shrink_perturb_mixes_in_is_not_the_initial_one() -> None:
    # With the two the same, shrink_perturb's perturbation would pull towards the start point.
    assert init_print(0, "fresh") != init_print(0, "init")


def adamw_steps(spec: object, arm: str, data: Dataset, path: Path) -> int:
    """The step count of the run's optimiser in its last checkpoint."""
    run_single(spec, arm, 0, dataset=data, checkpoint_path=path)  # type: ignore[arg-type]
    return int(load_checkpoint(path)["optimizer"]["state"][0]["step"])


def test_main_carries_on_with_the_preprocessing_optimiser(
    digits_small: Dataset, tmp_path: Path
) -> None:
    # As the paper's code does: the optimiser of the preprocessing epoch trains on into main,
    # so its step count covers both phases; the stages' arms start main with a fresh one.
    arms = [
        {"name": "pre", "method": "original", "preprocess_epochs": 1},
        {"name": "plain", "method": "original"},
        {"name": "staged", "method": "smart_init", "stages": [{"fraction": 1.0, "epochs": 1}]},
    ]
    spec = tiny_spec(arms=arms, training={"epochs": 1, "batch_size": 64}, repeats=1)
    main_only = adamw_steps(spec, "plain", digits_small, tmp_path / "plain.pt")
    assert main_only > 0
    assert adamw_steps(spec, "pre", digits_small, tmp_path / "pre.pt") == 2 * main_only
    assert adamw_steps(spec, "staged", digits_small, tmp_path / "staged.pt") == main_only
