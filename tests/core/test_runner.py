"""Pairing, determinism, resume, cancellation and the methods' stage plans, on real digits."""

import dataclasses
from pathlib import Path

import pytest
import torch

import core.training.lockstep
from core.data.base import Dataset
from core.methods import METHODS, plan_for
from core.training.member import arm_initial_model
from core.training.runner import (
    Phase,
    RunCancelled,
    TrainingError,
    initial_model,
    run_single,
    stage_sample,
    state_fingerprint,
)
from core.training.train import crop_and_flip, epoch_batches
from tests.core.conftest import tiny_spec

KEY = ("phase", "epoch", "split", "loss", "accuracy", "lr", "examples")


def keyed(rows: list[dict]) -> list[tuple]:
    return [tuple(row[k] for k in KEY) for row in rows]


def test_every_arm_of_a_repeat_starts_from_the_same_weights(digits_small: Dataset) -> None:
    spec = tiny_spec(training={"epochs": 1, "batch_size": 64})
    prints = {
        (arm, r): run_single(spec, arm, r, dataset=digits_small).init_fingerprint
        for arm, r in spec.run_keys()
    }
    for r in range(spec.repeats):
        assert len({prints[(a.name, r)] for a in spec.arms}) == 1
    assert prints[("original", 0)] != prints[("original", 1)]


def test_main_phase_data_order_is_shared_across_arms(digits_small: Dataset) -> None:
    # Two arms that differ only in name must train identically: neither the initial weights
    # nor the main-phase order and augmentation may depend on the arm.
    spec = tiny_spec(
        arms=[{"name": "a", "method": "original"}, {"name": "b", "method": "original"}],
        training={"epochs": 2, "batch_size": 32, "augment": "crop_flip"},
    )
    a = run_single(spec, "a", 0, dataset=digits_small)
    b = run_single(spec, "b", 0, dataset=digits_small)
    assert keyed(a.metrics) == keyed(b.metrics)


def test_cpu_runs_are_deterministic(digits_small: Dataset) -> None:
    spec = tiny_spec()
    first = run_single(spec, "smart", 1, dataset=digits_small)
    second = run_single(spec, "smart", 1, dataset=digits_small)
    assert keyed(first.metrics) == keyed(second.metrics)


@pytest.mark.parametrize("arm", ["smart", "sp", "original"])
def test_resume_after_cancel_matches_an_uninterrupted_run(
    digits_small: Dataset, tmp_path: Path, arm: str
) -> None:
    spec = tiny_spec()
    checkpoint = tmp_path / "run.pt"
    polls = iter(range(10_000))
    with pytest.raises(RunCancelled):
        run_single(
            spec,
            arm,
            0,
            dataset=digits_small,
            checkpoint_path=checkpoint,
            should_stop=lambda: next(polls) >= 45,
        )
    assert checkpoint.exists()
    replayed: list[list[dict]] = []
    resumed = run_single(
        spec, arm, 0, dataset=digits_small, checkpoint_path=checkpoint, on_epoch=replayed.append
    )
    whole = run_single(spec, arm, 0, dataset=digits_small)
    assert keyed(resumed.metrics) == keyed(whole.metrics)
    # Every epoch reaches the callback at least once, rows already stored are replayed first.
    seen = {(row["phase"], row["epoch"]) for rows in replayed for row in rows}
    assert seen == {(row["phase"], row["epoch"]) for row in whole.metrics}


def test_checkpoint_of_another_run_is_refused(digits_small: Dataset, tmp_path: Path) -> None:
    spec = tiny_spec(training={"epochs": 1, "batch_size": 64})
    checkpoint = tmp_path / "run.pt"
    run_single(spec, "warm", 0, dataset=digits_small, checkpoint_path=checkpoint)
    with pytest.raises(TrainingError, match="another run"):
        run_single(spec, "warm", 1, dataset=digits_small, checkpoint_path=checkpoint)


def test_metrics_cover_every_phase_epoch_and_split(digits_small: Dataset) -> None:
    spec = tiny_spec()
    rows = run_single(spec, "smart", 0, dataset=digits_small).metrics
    stage_keys = {(r["phase"], r["epoch"], r["split"]) for r in rows if r["phase"] != "main"}
    assert stage_keys == {
        (f"stage-{k}", e, s) for k in (1, 2) for e in (0, 1, 2) for s in ("sample", "val", "test")
    }
    main = [r for r in rows if r["phase"] == "main"]
    assert {(r["epoch"], r["split"]) for r in main} == {
        (e, s) for e in (1, 2, 3) for s in ("train", "val", "test")
    }
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    # Stage sizes: round(0.1 * 600) = 60 and round(0.3 * 600) = 180 examples an epoch.
    assert {r["examples"] for r in rows if r["phase"] == "stage-1" and r["epoch"] > 0} == {60}
    assert {r["examples"] for r in rows if r["phase"] == "stage-2" and r["epoch"] > 0} == {180}
    # A fresh schedule per phase: every phase's first trained epoch uses the initial lr.
    first = [r["lr"] for r in rows if r["epoch"] == 1]
    assert first == pytest.approx([0.003] * len(first))


def test_preprocessing_time_is_accounted(digits_small: Dataset) -> None:
    spec = tiny_spec()
    smart = run_single(spec, "smart", 0, dataset=digits_small).wall_seconds
    assert smart["preprocess"] == pytest.approx(smart["stage-1"] + smart["stage-2"])
    original = run_single(spec, "original", 0, dataset=digits_small)
    trained = next(r["seconds"] for r in original.metrics if r["phase"] == "preprocess")
    assert original.wall_seconds["preprocess"] == pytest.approx(trained)


def test_nan_loss_fails_with_phase_and_epoch(digits_small: Dataset) -> None:
    # Zero standard deviations turn every input into inf/NaN, as corrupt statistics would.
    broken = dataclasses.replace(digits_small, std=(0.0, 0.0, 0.0))
    spec = tiny_spec(training={"epochs": 2, "batch_size": 32})
    with pytest.raises(TrainingError, match=r"became nan in phase preprocess, epoch 1"):
        run_single(spec, "original", 0, dataset=broken)


@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_plans_stages(method: str) -> None:
    spec = tiny_spec(arms=[{"name": "x", "method": method}])
    plan = plan_for(spec.arms[0])
    assert (len(plan.stages) == 0) == (method == "original")
    assert all(0 < stage.fraction <= 1 for stage in plan.stages)


def test_paper_defaults_for_methods() -> None:
    spec = tiny_spec(
        arms=[{"name": m, "method": m} for m in ("smart_init", "repeat", "warm_start")]
    )
    smart, repeat, warm = (plan_for(arm).stages for arm in spec.arms)
    assert [(s.fraction, s.epochs) for s in smart] == [(0.0125, 10), (0.125, 10)]
    assert [(s.fraction, s.epochs) for s in repeat] == [(0.125, 10)] * 10
    assert [(s.fraction, s.epochs) for s in warm] == [(0.5, 50)]


def test_shrink_perturb_mixes_with_a_fresh_init(digits_small: Dataset) -> None:
    spec = tiny_spec(
        arms=[
            {
                "name": "sp",
                "method": "shrink_perturb",
                "shrink": 0.0,
                "perturb": 1.0,
                "stages": [{"fraction": 0.5, "epochs": 1}],
            }
        ]
    )
    plan = plan_for(spec.arms[0])
    model = initial_model(spec, 0, 10, "init")
    fresh = initial_model(spec, 0, 10, "fresh")
    assert plan.after_stages is not None
    plan.after_stages(model, fresh)
    assert state_fingerprint(model) == state_fingerprint(fresh)


def test_shrink_perturb_draws_its_fresh_network_with_the_arms_scheme(
    digits_small: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With shrink 0 and perturb 1 the network after the stages *is* the fresh one; it must be
    # drawn with the arm's own init scheme, or `init: orthogonal` would be silently ignored.
    spec = tiny_spec(
        arms=[
            {"name": "sp", "method": "shrink_perturb", "shrink": 0.0, "perturb": 1.0,
             "init": "orthogonal", "stages": [{"fraction": 0.5, "epochs": 1}]}
        ],
        training={"epochs": 1},
    )
    seen: list[str] = []
    real = core.training.lockstep.arm_initial_model

    def spy(*args: object) -> torch.nn.Module:
        model = real(*args)  # type: ignore[arg-type]
        seen.append(state_fingerprint(model))
        return model

    monkeypatch.setattr(core.training.lockstep, "arm_initial_model", spy)
    run_single(spec, "sp", 0, dataset=digits_small)
    orthogonal = arm_initial_model(spec, spec.arms[0], 0, digits_small, "fresh")
    default = initial_model(spec, 0, digits_small.num_classes, "fresh")
    assert seen == [state_fingerprint(orthogonal)] != [state_fingerprint(default)]


def test_stage_samples_are_uniform_without_repetition_and_new_per_stage() -> None:
    spec = tiny_spec()
    first = stage_sample(spec, 0, Phase("stage-1", 0, 1, 0.1, 8, 0.9, 0.25), 1000)
    second = stage_sample(spec, 0, Phase("stage-2", 1, 1, 0.1, 8, 0.9, 0.25), 1000)
    assert len(first) == 250 and len(set(first.tolist())) == 250
    assert set(first.tolist()) != set(second.tolist())


@pytest.mark.parametrize("n, batch", [(65, 64), (33, 32), (1, 64), (129, 64), (64, 64)])
def test_batches_never_leave_one_example(n: int, batch: int) -> None:
    g = torch.Generator().manual_seed(0)
    sizes = [
        len(i) for i, _ in epoch_batches(n, batch, g, augment=True, device=torch.device("cpu"))
    ]
    assert 1 not in sizes
    assert sum(sizes) == (n - 1 if n % batch == 1 else n)


def test_crop_and_flip_match_a_per_image_reference() -> None:
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    shifts = torch.tensor([[0, 0, 0], [8, 8, 1], [4, 4, 0], [2, 7, 1], [4, 4, 1]])
    out = crop_and_flip(images, shifts)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i, (dy, dx, flip) in enumerate(shifts.tolist()):
        expected = padded[i, :, dy : dy + 8, dx : dx + 8]
        assert torch.equal(out[i], expected.flip(2) if flip else expected)


def test_a_finished_checkpoint_resumes_to_the_same_result(
    digits_small: Dataset, tmp_path: Path
) -> None:
    # A worker may die after the last checkpoint but before the run is marked done.
    spec = tiny_spec(training={"epochs": 2, "batch_size": 64})
    checkpoint = tmp_path / "run.pt"
    first = run_single(spec, "smart", 0, dataset=digits_small, checkpoint_path=checkpoint)
    again = run_single(spec, "smart", 0, dataset=digits_small, checkpoint_path=checkpoint)
    assert keyed(again.metrics) == keyed(first.metrics)
    assert again.init_fingerprint == first.init_fingerprint
