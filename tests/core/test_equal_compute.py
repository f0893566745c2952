"""summary.equal_compute: arms compared with the baseline at equal examples trained on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.stats import summary as stats
from core.stats.equal_compute import COMPARES, match
from core.stats.paired import holm
from tests.core.run_records import record

BASE = [[1.5, 1.3, 1.2, 1.1, 1.0 + 0.05 * r] for r in range(4)]


def _runs(arm: str, losses: list[list[float]], **kwargs: Any) -> list[dict[str, Any]]:
    return [record(arm, r, values, **kwargs) for r, values in enumerate(losses)]


def test_arm_that_trained_more_is_read_where_it_reaches_the_baselines_total() -> None:
    # original: 1 preprocess + 5 main epochs of 100 = 600 examples; smart: 2 x 2 stage epochs
    # of 50 = 200, then 100 a main epoch, so 600 at main epoch 4.
    smart = [[1.4, 1.2, 1.0, 0.9 - 0.02 * r, 0.8] for r in range(4)]
    runs = _runs("original", BASE, preprocess=1) + _runs("smart", smart, stages=(2, 2))
    found = match(runs[4], runs[0])
    assert found is not None
    assert (found["arm_epoch"], found["baseline_epoch"], found["side"]) == (
        4, 5, "arm reaches baseline"
    )
    assert found["arm_examples_total"] == found["baseline_examples_total"] == 600
    summary = stats.summarize(runs, "original", rules=("final",))
    block = summary["equal_compute"]
    assert block["compares"] == COMPARES
    assert [(p["repeat"], p["arm_epoch"], p["baseline_epoch"]) for p in block["points"]] == [
        (r, 4, 5) for r in range(4)
    ]
    val_loss = next(r for r in block["rows"] if (r["split"], r["metric"]) == ("val", "loss"))
    diffs = np.array([s[3] - b[4] for s, b in zip(smart, BASE, strict=True)])
    assert val_loss["mean_diff"] == pytest.approx(diffs.mean())
    assert val_loss["d_z"] == pytest.approx(diffs.mean() / diffs.std(ddof=1))
    assert val_loss["relative_diff"] == pytest.approx(diffs.mean() / np.mean([b[4] for b in BASE]))
    assert [r["p_holm"] for r in block["rows"]] == pytest.approx(
        holm([r["t_p"] for r in block["rows"]])
    )
    assert len(block["rows"]) == 6  # val, test, train x loss, accuracy


def test_baseline_that_trained_more_is_read_where_it_reaches_the_arms_total() -> None:
    short = [[1.4, 1.2, 1.1, 1.0, 0.95] for _ in range(4)]  # 5 x 100 = 500 examples
    runs = _runs("original", BASE, preprocess=1) + _runs("short", short)
    points = stats.summarize(runs, "original")["equal_compute"]["points"]
    assert {(p["arm_epoch"], p["baseline_epoch"], p["side"]) for p in points} == {
        (5, 4, "baseline reaches arm")
    }


def test_pretraining_beyond_the_baselines_budget_and_missing_totals_are_noted() -> None:
    warm = [[1.0, 0.9, 0.8, 0.7, 0.6] for _ in range(4)]
    runs = _runs("original", BASE) + _runs("warm", warm, stages=(20,))  # 1000 > 500
    summary = stats.summarize(runs, "original")
    assert {p["arm_epoch"] for p in summary["equal_compute"]["points"]} == {1}
    assert any("warm never matches original's budget" in n for n in summary["notes"])
    for row in runs[4]["metrics"]:
        del row["examples_total"]
    notes = stats.summarize(runs, "original")["notes"]
    missing = "equal_compute: warm vs original: no examples_total recorded in repeat(s) 0; left out"
    assert missing in notes


def test_the_baseline_is_interpolated_between_the_epochs_that_bracket_the_arms_total() -> None:
    """smart: one stage epoch of 50 examples, then 5 x 100 = 550 in all; original: 1 preprocess
    + 5 main epochs = 600, passing 550 halfway through main epoch 5 (the old rule read epoch 5,
    50 examples more)."""
    smart = [[1.4, 1.2, 1.05, 0.95, 0.9 - 0.01 * r] for r in range(4)]
    runs = _runs("original", BASE, preprocess=1) + _runs("smart", smart, stages=(1,))
    found = match(runs[4], runs[0])
    assert found is not None and found["side"] == "baseline reaches arm"
    assert (found["arm_epoch"], found["baseline_epoch"]) == (5, 4.5)
    assert found["arm_examples_total"] == found["baseline_examples_total"] == 550
    block = stats.summarize(runs, "original", rules=("final",))["equal_compute"]
    val_loss = next(r for r in block["rows"] if (r["split"], r["metric"]) == ("val", "loss"))
    halfway = [(b[3] + b[4]) / 2 for b in BASE]
    diffs = np.array([s[4] - h for s, h in zip(smart, halfway, strict=True)])
    assert val_loss["mean_diff"] == pytest.approx(diffs.mean())
    accuracy = next(r for r in block["rows"] if (r["split"], r["metric"]) == ("val", "accuracy"))
    # record() sets accuracy 1 - loss / 4 (in %: 100 - 25 loss): interpolated the same way.
    assert accuracy["mean_diff"] == pytest.approx(-25 * diffs.mean())
