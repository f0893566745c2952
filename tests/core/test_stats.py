"""core.stats.summary against figures computed independently here (numpy, scipy) on hand-made
runs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from core.stats import summary as stats

# split -> (epoch, loss, accuracy) points
Series = Mapping[str, Sequence[tuple[int, float | None, float | None]]]


def make_run(
    arm: str, repeat: int, series: Series, *, status: str = "done", wall: Any = None
) -> dict[str, Any]:
    """A run dict as the runner writes it; a stage row is added so phases must be filtered."""
    metrics = [
        {"phase": "stage-1", "epoch": 0, "split": "val", "loss": 0.01, "accuracy": 0.99},
    ]
    for split, points in series.items():
        for epoch, loss, acc in points:
            metrics.append(
                {"phase": "main", "epoch": epoch, "split": split, "loss": loss, "accuracy": acc}
                | {"lr": 0.001, "seconds": 1.0, "examples": 100}
            )
    return {
        "arm": arm,
        "repeat": repeat,
        "seed": repeat,
        "init_fingerprint": f"fp{repeat}",
        "status": status,
        "wall_seconds": wall or {"main": 100.0, "preprocess": 2.0},
        "metrics": metrics,
    }


def line(values: list[float], accs: list[float] | None = None) -> list[tuple[int, float, float]]:
    """Epochs 1..E with the given losses (and accuracies, default 1 - loss / 10)."""
    accs = accs or [1 - v / 10 for v in values]
    return [(e + 1, v, a) for e, (v, a) in enumerate(zip(values, accs, strict=True))]


# --- curve_stats and band ---------------------------------------------------------------


def test_curve_stats_matches_numpy_and_t_interval() -> None:
    vals = {1: [2.0, 2.5, 3.0, 4.0, 6.0], 2: [1.0, 1.5, 2.5, 3.0]}
    runs = []
    for r in range(5):
        points = [(2, vals[2][r], 0.5)] if r < 4 else []  # repeat 4 lacks epoch 2
        points.insert(0, (1, vals[1][r], 0.4))  # recorded out of order on purpose
        runs.append(make_run("a", r, {"val": points[::-1]}))
    rows = stats.curve_stats(runs, "a", "main", "val", "loss")
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        data = np.array(vals[row["epoch"]])
        n = len(data)
        assert row["n"] == n
        for key, q in [("p10", 10), ("p25", 25), ("median", 50), ("p75", 75), ("p90", 90)]:
            assert row[key] == pytest.approx(np.percentile(data, q))
        assert (row["min"], row["max"]) == (data.min(), data.max())
        assert row["mean"] == pytest.approx(data.mean())
        sd = data.std(ddof=1)
        assert row["std"] == pytest.approx(sd)
        half = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        assert row["ci95_low"] == pytest.approx(data.mean() - half)
        assert row["ci95_high"] == pytest.approx(data.mean() + half)


def test_curve_stats_single_value_and_other_phases() -> None:
    runs = [make_run("a", 0, {"train": [(3, 0.7, 0.2)]}), make_run("b", 0, {"train": line([1])})]
    (row,) = stats.curve_stats(runs, "a", "main", "train", "accuracy")
    assert (row["epoch"], row["n"], row["median"], row["std"]) == (3, 1, 0.2, None)
    assert row["ci95_low"] is None and row["ci95_high"] is None
    stage = stats.curve_stats(runs, "a", "stage-1", "val", "loss")
    assert [(r["epoch"], r["mean"]) for r in stage] == [(0, 0.01)]
    assert stats.curve_stats(runs, "missing", "main", "val", "loss") == []


def test_band_kinds() -> None:
    runs = [make_run("a", r, {"val": [(1, v, 0.5)]}) for r, v in enumerate([1.0, 2.0, 4.0])]
    (row,) = stats.curve_stats(runs, "a", "main", "val", "loss")
    assert stats.band(row, "iqr") == (row["p25"], row["p75"])
    assert stats.band(row, "p10p90") == (row["p10"], row["p90"])
    assert stats.band(row, "minmax") == (1.0, 4.0)
    mean, sd = row["mean"], row["std"]
    assert stats.band(row, "std") == pytest.approx((mean - sd, mean + sd))
    assert stats.band(row, "ci95") == (row["ci95_low"], row["ci95_high"])
    single = stats.curve_stats(runs[:1], "a", "main", "val", "loss")[0]
    assert stats.band(single, "std") == (1.0, 1.0) == stats.band(single, "ci95")
    with pytest.raises(ValueError, match="valid choices: iqr, p10p90, minmax, std, ci95"):
        stats.band(row, "range")


# --- selection rules --------------------------------------------------------------------

# val loss is lowest at epoch 2, train loss at epoch 3, val accuracy highest at epoch 3.
RUN = make_run(
    "a",
    0,
    {
        "train": [(1, 2.0, 0.30), (2, 1.5, 0.40), (3, 1.2, 0.45)],
        "val": [(1, 2.1, 0.20), (2, 1.6, 0.30), (3, 1.7, 0.35)],
        "test": [(1, 2.2, 0.19), (2, 1.4, 0.31), (3, 1.8, 0.33)],
    },
)


def test_select_val_loss() -> None:
    picked = stats.select(RUN, "val_loss")
    assert picked["val"] == {
        "loss": 1.6,
        "accuracy": 0.30,
        "epoch": 2,
        "loss_epoch": 2,
        "accuracy_epoch": 2,
        "selected_by": "val_loss",
    }
    assert (picked["test"]["loss"], picked["test"]["accuracy"], picked["test"]["epoch"]) == (
        1.4,
        0.31,
        2,
    )
    # Train figures at the val-selected epoch too (issue 23), not at the lowest train loss (3).
    assert (picked["train"]["loss"], picked["train"]["accuracy"], picked["train"]["epoch"]) == (
        1.5,
        0.40,
        2,
    )
    assert stats.select(RUN) == picked


def test_select_val_loss_without_val_falls_back_to_final() -> None:
    run = make_run("a", 0, {"train": line([2.0, 1.0, 1.5]), "test": line([2.0, 1.0, 1.5])})
    picked = stats.select(run, "val_loss")
    assert picked["test"]["epoch"] == 3 and picked["test"]["selected_by"] == "final"
    # The fallback reports the final epoch's accuracy too (a mutant dropping it survived).
    assert picked["test"]["accuracy"] == pytest.approx(0.85)
    assert picked["test"]["accuracy_epoch"] == 3
    assert picked["train"]["epoch"] == 3 and picked["train"]["selected_by"] == "final"
    assert "val" not in picked


def test_select_val_loss_skips_test_missing_at_chosen_epoch() -> None:
    run = make_run("a", 0, {"val": line([2.0, 1.0, 1.5]), "test": [(3, 1.3, 0.6)]})
    assert "test" not in stats.select(run, "val_loss")
    assert stats.select(run, "final")["test"]["loss"] == 1.3


def test_select_final_uses_each_splits_last_epoch() -> None:
    run = make_run("a", 0, {"train": line([2.0, 1.0, 1.5]), "val": line([2.0, 1.8])})
    picked = stats.select(run, "final")
    assert (picked["train"]["epoch"], picked["train"]["loss"]) == (3, 1.5)
    assert (picked["val"]["epoch"], picked["val"]["loss"]) == (2, 1.8)
    assert picked["val"]["accuracy"] == pytest.approx(0.82)


def test_select_paper_takes_min_loss_and_max_accuracy_independently() -> None:
    picked = stats.select(RUN, "paper")
    assert picked["val"] == {
        "loss": 1.6,
        "accuracy": 0.35,
        "epoch": 2,
        "loss_epoch": 2,
        "accuracy_epoch": 3,
        "selected_by": "paper",
    }
    # Test is taken at the final epoch even though epoch 2 had the lower loss.
    assert (picked["test"]["loss"], picked["test"]["accuracy"], picked["test"]["epoch"]) == (
        1.8,
        0.33,
        3,
    )


def test_select_paper_ties_take_the_first_epoch_like_argmin() -> None:
    run = make_run("a", 0, {"val": line([2.0, 1.0, 1.0], [0.5, 0.7, 0.7])})
    picked = stats.select(run, "paper")["val"]
    assert (picked["loss_epoch"], picked["accuracy_epoch"]) == (2, 2)


def test_select_skips_missing_values_and_keeps_last_duplicate() -> None:
    run = make_run("a", 0, {"val": [(1, 2.0, 0.1), (2, None, 0.9), (3, float("nan"), 0.2)]})
    run["metrics"].append({"phase": "main", "epoch": 1, "split": "val", "loss": 3.0, "accuracy": 0})
    picked = stats.select(run, "paper")["val"]
    assert (picked["loss"], picked["loss_epoch"]) == (3.0, 1)  # the re-recorded epoch 1
    assert (picked["accuracy"], picked["accuracy_epoch"]) == (0.9, 2)
    assert stats.select(run, "final")["val"]["loss"] is None
    assert stats.select({"arm": "a", "repeat": 0, "metrics": []}, "paper") == {}


def test_unknown_rule_lists_choices() -> None:
    with pytest.raises(ValueError, match="valid choices: val_loss, final, paper"):
        stats.select(RUN, "best")


# --- tables ------------------------------------------------------------------------------


def test_table_rows_paper_rule_hand_worked_population_std() -> None:
    runs = [
        # repeat 0: val min loss 1.0 at epoch 3, max acc 0.60 at epoch 1
        make_run("orig", 0, {"val": line([1.5, 1.2, 1.0], [0.60, 0.50, 0.55])}),
        # repeat 1: val min loss 1.2 at epoch 1, max acc 0.50 at epoch 3
        make_run("orig", 1, {"val": line([1.2, 1.3, 1.4], [0.40, 0.45, 0.50])}),
    ]
    (row,) = stats.table_rows(runs, "paper")
    assert (row["arm"], row["split"], row["n"]) == ("orig", "val", 2)
    assert row["loss_mean"] == pytest.approx(1.1)
    assert row["loss_std"] == pytest.approx(0.1)  # ddof=0: sqrt(((0.1)^2 + (0.1)^2) / 2)
    assert row["acc_mean"] == pytest.approx(55.0)
    assert row["acc_std"] == pytest.approx(5.0)
    assert row["acc_median"] == pytest.approx(55.0)
    assert row["epoch_mean"] == pytest.approx(2.0)  # (3 + 1) / 2, epochs of the min loss
    honest = stats.table_rows(runs, "val_loss")[0]
    assert honest["loss_std"] == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert honest["acc_mean"] == pytest.approx(100 * np.mean([0.55, 0.40]))


def test_table_rows_sample_std_order_and_missing_splits() -> None:
    losses = [[3.0, 2.0], [2.5, 2.2], [2.9, 2.4]]
    runs = [make_run("smart", r, {"val": line(v)}) for r, v in enumerate(losses)]
    runs.insert(0, make_run("orig", 0, {"val": line([1.0]), "train": line([0.5])}))
    runs.append(make_run("smart", 3, {"train": line([0.9, 0.8])}))  # no val this time
    rows = stats.table_rows(runs, "final")
    assert [(r["arm"], r["split"], r["n"]) for r in rows] == [
        ("orig", "val", 1),
        ("orig", "train", 1),
        ("smart", "val", 3),
        ("smart", "train", 1),
    ]
    assert rows[0]["loss_std"] is None and rows[0]["loss_mean"] == 1.0
    finals = np.array([v[-1] for v in losses])
    assert rows[2]["loss_mean"] == pytest.approx(finals.mean())
    assert rows[2]["loss_std"] == pytest.approx(finals.std(ddof=1))
    assert rows[2]["loss_median"] == pytest.approx(np.median(finals))
    assert rows[2]["acc_mean"] == pytest.approx(100 * np.mean(1 - finals / 10))
    assert rows[2]["epoch_mean"] == 2


# --- paired comparison -------------------------------------------------------------------


def test_paired_comparison_pairs_by_repeat() -> None:
    base = {0: 2.0, 1: 2.4, 2: 2.2, 3: 2.1}
    arm = {0: 1.8, 1: 2.5, 3: 1.7, 4: 1.0}  # repeat 2 missing, repeat 4 has no baseline
    runs = [make_run("orig", r, {"val": line([v])}) for r, v in base.items()]
    runs += [make_run("smart", r, {"val": line([v])}) for r, v in arm.items()]
    (row,) = stats.paired_comparison(runs, "orig", "val_loss", "val", "loss")
    a, b = np.array([1.8, 2.5, 1.7]), np.array([2.0, 2.4, 2.1])
    d = a - b
    half = sps.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (row["arm"], row["baseline"], row["n"]) == ("smart", "orig", 3)
    assert row["repeats"] == [0, 1, 3]
    assert row["mean_diff"] == pytest.approx(d.mean())
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert row["t_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert row["wilcoxon_p"] == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert row["win_rate"] == pytest.approx(2 / 3)
    (acc,) = stats.paired_comparison(runs, "orig", "val_loss", "val", "accuracy")
    assert acc["mean_diff"] == pytest.approx(100 * np.mean((1 - a / 10) - (1 - b / 10)))
    assert acc["win_rate"] == pytest.approx(2 / 3)  # lower loss here means higher accuracy


def test_paired_comparison_defaults_labels_and_errors_name_the_argument() -> None:
    # Mutation testing found the defaults, the rows' rule/split labels and the error labels
    # unchecked: the honest default is the val-loss comparison on validation.
    runs = [make_run("orig", r, {"val": line([2.0 + r / 10])}) for r in range(3)]
    runs += [make_run("smart", r, {"val": line([1.9 + r / 7])}) for r in range(3)]
    (row,) = stats.paired_comparison(runs, "orig")
    assert row == stats.paired_comparison(runs, "orig", "val_loss", "val", "loss")[0]
    assert (row["rule"], row["split"]) == ("val_loss", "val")
    with pytest.raises(ValueError, match=r"^unknown rule 'best'; valid choices: val_loss"):
        stats.paired_comparison(runs, "orig", rule="best")
    with pytest.raises(ValueError, match=r"^unknown metric 'f1'; valid choices: loss, accuracy"):
        stats.paired_comparison(runs, "orig", metric="f1")


def test_paired_comparison_degenerate_cases() -> None:
    runs = [make_run("orig", r, {"val": line([1.0])}) for r in range(3)]
    runs += [make_run("same", r, {"val": line([1.0])}) for r in range(3)]
    runs += [make_run("one", 0, {"val": line([0.5])}), make_run("none", 9, {"val": line([1])})]
    rows = {r["arm"]: r for r in stats.paired_comparison(runs, "orig", "final", "val", "loss")}
    assert list(rows) == ["same", "one", "none"]
    same = rows["same"]
    assert (same["n"], same["mean_diff"], same["t_p"], same["wilcoxon_p"]) == (3, 0, None, None)
    assert same["win_rate"] == 0 and (same["wins"], same["ties"], same["losses"]) == (0, 3, 0)
    assert same["wilcoxon_n"] == 0 and same["degenerate"]
    one = rows["one"]
    assert (one["n"], one["mean_diff"], one["ci95_low"], one["t_p"]) == (1, -0.5, None, None)
    assert one["win_rate"] == 1
    assert rows["none"]["n"] == 0 and rows["none"]["mean_diff"] is None
    with pytest.raises(ValueError, match="valid choices: loss, accuracy"):
        stats.paired_comparison(runs, "orig", "final", "val", "acc")


def test_paired_comparison_with_some_zero_differences() -> None:
    base, arm = [1.0, 1.0, 1.0, 1.0], [1.0, 0.8, 0.7, 1.1]
    runs = [make_run("orig", r, {"val": line([v])}) for r, v in enumerate(base)]
    runs += [make_run("smart", r, {"val": line([v])}) for r, v in enumerate(arm)]
    (row,) = stats.paired_comparison(runs, "orig", "final", "val", "loss")
    assert row["wilcoxon_p"] == pytest.approx(sps.wilcoxon(arm, base).pvalue)


# --- preprocessing and summarize ---------------------------------------------------------


def test_preprocessing_share_uses_finished_runs() -> None:
    runs = [
        make_run("orig", 0, {}, wall={"main": 100.0, "preprocess": 2.0}),
        make_run("orig", 1, {}, wall={"main": 300.0, "preprocess": 6.0}),
        make_run("orig", 2, {}, wall={"main": 10.0, "preprocess": 9.0}, status="running"),
        make_run("rep", 0, {}, wall={"main": 100.0, "stage-1": 3.0}),
    ]
    shares = stats.preprocessing_share(runs)
    assert shares["orig"] == {
        "n": 2,
        "preprocess_seconds_mean": 4.0,
        "main_seconds_mean": 200.0,
        "share": pytest.approx(0.02),
    }
    assert shares["rep"] == {
        "n": 0,
        "preprocess_seconds_mean": None,
        "main_seconds_mean": None,
        "share": None,
    }


def test_summarize_structure_and_json_safety() -> None:
    runs = [
        make_run("orig", r, {"val": line([2.0, 1.0 + r]), "train": line([1.0, 0.5 + r])})
        for r in range(3)
    ]
    runs += [make_run("smart", r, {"val": line([1.5, 0.9 + r, float("inf")])}) for r in range(3)]
    summary = stats.summarize(runs, None, rules=("val_loss", "paper"))
    json.dumps(summary, allow_nan=False)
    keys = ("baseline", "arms", "rules", "primary", "sequential", "tables", "paired")
    keys += ("equal_compute", "preprocessing", "notes")
    assert list(summary) == list(keys)
    assert (summary["baseline"], summary["arms"]) == ("orig", ["orig", "smart"])
    assert set(summary["tables"]) == set(summary["paired"]) == {"val_loss", "paper"}
    pairs = [(r["split"], r["metric"]) for r in summary["paired"]["val_loss"]]
    assert pairs == [(s, m) for s in ("val", "train") for m in ("loss", "accuracy")]
    train_pair = summary["paired"]["val_loss"][2]
    assert train_pair["n"] == 0  # smart has no train split
    assert summary["tables"]["val_loss"] == stats.table_rows(runs, "val_loss")
    assert any(note.startswith("paper:") for note in summary["notes"])


def test_summarize_unknown_baseline_and_no_val() -> None:
    runs = [make_run("a", r, {"test": line([1.0, 0.5])}) for r in range(2)]
    summary = stats.summarize(runs, "zzz")
    assert summary["paired"] == {"val_loss": [], "final": [], "paper": []}
    assert any("'zzz' has no runs" in note for note in summary["notes"])
    assert any("val_loss: 2 of 2 a run(s)" in note for note in summary["notes"])
    assert stats.summarize([], None)["arms"] == []
    with pytest.raises(ValueError, match="unknown rule"):
        stats.summarize(runs, None, rules=("best",))
