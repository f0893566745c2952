"""The original arm's preprocessing epochs, examples_total and the numerics fields (issue 10)."""

from pathlib import Path

import pytest

from core.data.base import Dataset
from core.stats.summary import select
from core.training.runner import RunCancelled, run_single
from tests.core.conftest import tiny_spec

N = 600  # digits_small's training images; 600 % 32 != 1, so no lone example is dropped


def original_spec(k: int, epochs: int = 3, **training: object) -> object:
    arms = [
        {"name": "original", "method": "original", "preprocess_epochs": k},
        {"name": "smart", "method": "smart_init", "stages": [{"fraction": 0.1, "epochs": 2}]},
    ]
    settings = {"epochs": epochs, "batch_size": 32, "lr": 0.003, "lr_decay": 0.5, **training}
    return tiny_spec(arms=arms, training=settings, repeats=1)


@pytest.mark.parametrize("k", [1, 2])
def test_original_trains_k_preprocessing_epochs_before_main(k: int, digits_small: Dataset) -> None:
    spec = original_spec(k)
    rows = run_single(spec, "original", 0, dataset=digits_small).metrics
    pre = [r for r in rows if r["phase"] == "preprocess"]
    assert sorted({r["epoch"] for r in pre}) == list(range(1, k + 1))
    assert {r["split"] for r in pre} == {"train", "val", "test"}  # stage_splits, sample = train
    assert {r["examples"] for r in pre} == {N}
    main = [r for r in rows if r["phase"] == "main"]
    assert sorted({r["epoch"] for r in main}) == [1, 2, 3]
    # Total examples seen by the original = (k + E) × N.
    assert max(r["examples_total"] for r in rows) == (k + 3) * N
    assert rows[0]["phase"] == "preprocess"  # before main, in training order


def test_preprocessing_keeps_the_learning_rate_and_carries_the_optimiser_into_main(
    digits_small: Dataset,
) -> None:
    rows = run_single(original_spec(2), "original", 0, dataset=digits_small).metrics
    lr = {(r["phase"], r["epoch"]): r["lr"] for r in rows}
    # No scheduler step during preprocessing; main then decays from the initial lr.
    assert lr[("preprocess", 1)] == lr[("preprocess", 2)] == pytest.approx(0.003)
    assert lr[("main", 1)] == pytest.approx(0.003)
    assert lr[("main", 2)] == pytest.approx(0.0015)


def test_examples_total_and_seconds_total_accumulate_over_phases(digits_small: Dataset) -> None:
    result = run_single(original_spec(1), "smart", 0, dataset=digits_small)
    by_epoch = {}
    for row in result.metrics:
        by_epoch[(row["phase"], row["epoch"])] = row
    ordered = list(by_epoch.values())
    totals = [r["examples_total"] for r in ordered]
    assert totals == sorted(totals)
    assert by_epoch[("stage-1", 0)]["examples_total"] == 0
    assert by_epoch[("stage-1", 2)]["examples_total"] == 2 * 60
    assert by_epoch[("main", 3)]["examples_total"] == 2 * 60 + 3 * N
    seconds = [r["seconds_total"] for r in ordered]
    assert seconds == sorted(seconds)
    assert seconds[-1] == pytest.approx(sum(result.wall_seconds[p] for p in ("stage-1", "main")))


def test_selection_looks_at_main_epochs_only(digits_small: Dataset) -> None:
    run = run_single(original_spec(1), "original", 0, dataset=digits_small).to_json()
    for rule in ("val_loss", "final", "paper"):
        for split, picked in select(run, rule).items():
            assert picked["epoch"] in (1, 2, 3), (rule, split)
    # Even when the preprocessing epoch holds the lowest validation loss, it is not picked.
    for row in run["metrics"]:
        if row["phase"] == "preprocess":
            row["loss"] = -1.0
    assert select(run, "val_loss")["val"]["loss"] >= 0


def test_resume_at_the_end_of_preprocessing_matches_an_uninterrupted_run(
    digits_small: Dataset, tmp_path: Path
) -> None:
    spec = original_spec(1)
    whole = run_single(spec, "original", 0, dataset=digits_small)
    checkpoint = tmp_path / "run.pt"
    stop_after = {"phase": ""}

    def progress(phase: str, epoch: int, epochs: int) -> None:
        stop_after["phase"] = phase

    trained: list[tuple[str, int]] = []
    with pytest.raises(RunCancelled):
        run_single(
            spec,
            "original",
            0,
            dataset=digits_small,
            checkpoint_path=checkpoint,
            on_progress=progress,
            should_stop=lambda: stop_after["phase"] == "preprocess",
        )
    resumed = run_single(
        spec,
        "original",
        0,
        dataset=digits_small,
        checkpoint_path=checkpoint,
        on_progress=lambda phase, epoch, _: trained.append((phase, epoch)),
    )
    # Only the main epochs were trained after the resume, with the carried-on optimiser.
    assert trained == [("main", 1), ("main", 2), ("main", 3)]
    key = ("phase", "epoch", "split", "loss", "accuracy", "lr", "examples_total")
    assert [tuple(r[k] for k in key) for r in resumed.metrics] == [
        tuple(r[k] for k in key) for r in whole.metrics
    ]


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_precision_and_determinism_are_recorded(precision: str, digits_small: Dataset) -> None:
    spec = original_spec(1, epochs=1, precision=precision, deterministic=True)
    result = run_single(spec, "original", 0, dataset=digits_small)
    assert (result.precision, result.deterministic) == (precision, True)
    assert result.to_json()["precision"] == precision


def test_tf32_equals_fp32_on_the_cpu(digits_small: Dataset) -> None:
    rows = {
        p: run_single(original_spec(1, epochs=1, precision=p), "original", 0, dataset=digits_small)
        for p in ("fp32", "tf32")
    }
    assert [r["loss"] for r in rows["fp32"].metrics] == [r["loss"] for r in rows["tf32"].metrics]
