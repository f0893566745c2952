"""Effect sizes, Holm's adjustment, the primary endpoint and the pairing check of summarize."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from core.spec import parse_spec
from core.stats import summary as stats
from core.stats.paired import SECONDARY, holm, paired_rows, paired_stats, pairing_check
from tests.core.run_records import record

# statsmodels 0.14.4 multipletests(p, method="holm")[1], computed once outside this venv.
HOLM_REFERENCE = [
    ([0.01, 0.04, 0.03, 0.005, 0.2], [0.04, 0.09, 0.09, 0.025, 0.2]),
    ([0.02, 0.02, 0.5, 0.001], [0.06, 0.06, 0.5, 0.004]),
    ([0.9, 0.8, 0.04], [1.0, 1.0, 0.12]),
]
BASE = [1.00, 1.20, 0.90, 1.10, 1.05]
SMART = [0.90, 1.00, 0.85, 1.00, 0.92]  # lower val loss every repeat


@pytest.mark.parametrize(("pvalues", "expected"), HOLM_REFERENCE)
def test_holm_matches_statsmodels(pvalues: list[float], expected: list[float]) -> None:
    assert holm(pvalues) == pytest.approx(expected)


def test_holm_skips_missing_p_values() -> None:
    assert holm([None, 0.01, None, 0.04]) == [None, pytest.approx(0.02), None, 0.04]
    assert holm([]) == []


def _runs(smart: list[float] = SMART, **extra: Any) -> list[dict[str, Any]]:
    runs = [record("original", r, [2.0, v]) for r, v in enumerate(BASE)]
    return runs + [record("smart", r, [2.0, v], **extra) for r, v in enumerate(smart)]


def test_d_z_and_relative_difference_by_hand() -> None:
    row = stats.paired_comparison(_runs(), "original", "final", "val", "loss")[0]
    diff = np.array(SMART) - np.array(BASE)
    assert row["d_z"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert row["relative_diff"] == pytest.approx(diff.mean() / np.mean(BASE))
    assert row["t_p"] == pytest.approx(sps.ttest_rel(SMART, BASE).pvalue)
    assert row["p_holm"] == row["t_p"]  # a family of one


def test_p_holm_adjusts_over_every_row_of_the_rule() -> None:
    summary = stats.summarize(_runs(), "original", rules=("val_loss", "final"))
    for rule in ("val_loss", "final"):
        rows = summary["paired"][rule]
        assert len(rows) == 6  # val, test, train x loss, accuracy
        assert [r["p_holm"] for r in rows] == pytest.approx(holm([r["t_p"] for r in rows]))
        assert all(r["p_holm"] >= r["t_p"] for r in rows)


def test_primary_is_declared_in_the_spec_and_the_rest_is_secondary() -> None:
    spec = parse_spec({
        "name": "p", "model": "small_cnn", "dataset": {"name": "digits"},
        "arms": [{"name": "original", "method": "original"}, {"name": "smart",
                 "method": "smart_init"}],
        "primary": {"split": "test", "metric": "accuracy", "rule": "final"},
    })
    summary = stats.summarize(_runs(), "original", rules=("val_loss",), spec=spec)
    primary = summary["primary"]
    assert (primary["split"], primary["metric"], primary["rule"]) == ("test", "accuracy", "final")
    assert [(r["arm"], r["role"]) for r in primary["rows"]] == [("smart", "primary")]
    # The primary's rule was not asked for: it is computed anyway, the table stays unasked.
    assert list(summary["paired"]) == ["val_loss"]
    assert {r["role"] for r in summary["paired"]["val_loss"]} == {SECONDARY}
    assert summary["sequential"][0]["metric"] == "accuracy"
    assert "the other 6 paired comparisons over 1 rule(s) are secondary" in summary["notes"][0]


def test_default_primary_is_val_loss_under_val_loss() -> None:
    summary = stats.summarize(_runs(), "original")
    rows = [r for rule in summary["rules"] for r in summary["paired"][rule]]
    primary = [r for r in rows if r["role"] == "primary"]
    assert len(primary) == 1 and primary == summary["primary"]["rows"]
    assert f"the other {len(rows) - 1} paired comparisons over 3 rule(s)" in summary["notes"][0]
    assert (primary[0]["rule"], primary[0]["split"], primary[0]["metric"]) == (
        "val_loss", "val", "loss"
    )


def test_mismatched_initial_weights_are_noted_and_left_out() -> None:
    runs = _runs()
    runs[5 + 2]["init_fingerprint"] = "other"  # smart, repeat 2: different initial weights
    summary = stats.summarize(runs, "original", rules=("final",))
    row = summary["paired"]["final"][0]
    assert row["repeats"] == [0, 1, 3, 4] and row["n"] == 4
    note = next(n for n in summary["notes"] if n.startswith("pairing:"))
    assert "repeat 2" in note and "smart left out" in note
    assert summary["sequential"][0]["repeats"] == [0, 1, 3, 4]
    assert [p["repeat"] for p in summary["equal_compute"]["points"]] == [0, 1, 3, 4]
    # The tables are unpaired: every run still counts there.
    assert {r["n"] for r in summary["tables"]["final"]} == {5}


def test_arms_with_another_init_scheme_may_differ() -> None:
    runs = _runs()
    for run in runs[5:]:
        run["init"], run["init_fingerprint"] = "lsuv", f"lsuv{run['repeat']}"
    summary = stats.summarize(runs, "original", rules=("final",))
    assert summary["paired"]["final"][0]["n"] == 5
    assert not [n for n in summary["notes"] if n.startswith("pairing:")]


def test_pairing_check_takes_the_majority_where_the_baseline_has_another_scheme() -> None:
    # Mutation testing found the reference choice, the walk over every scheme group of a
    # repeat and the note's wording unchecked. The baseline's group is consistent; in the
    # Kaiming group of repeat 0, k3 is the odd one out by majority (the baseline is not in it).
    def runs(*prints: str) -> dict[int, dict[str, str]]:
        return {r: {"init_fingerprint": p} for r, p in enumerate(prints)}

    groups = {"original": runs("a0", "a1"), "k1": runs("k", "k"), "k2": runs("k", "k"),
              "k3": runs("odd", "k")}
    inits = {"original": "pytorch", "k1": "kaiming_normal", "k2": "kaiming_normal",
             "k3": "kaiming_normal"}
    excluded, notes = pairing_check(groups, "original", inits)
    assert excluded == {("k3", 0)}
    assert notes == [
        "pairing: repeat 0: arms k1, k2, k3 (init kaiming_normal) should start from the same "
        "weights but their init_fingerprint differs; k3 left out of the paired statistics of "
        "this repeat"
    ]
    # Where the baseline shares the scheme, its fingerprint is the reference, even outvoted.
    groups["original"], inits["original"] = runs("odd", "k"), "kaiming_normal"
    groups["k3"] = runs("k", "k")
    excluded, notes = pairing_check(groups, "original", inits)
    assert excluded == {("k1", 0), ("k2", 0), ("k3", 0)}
    assert notes[0].endswith("differs; k1, k2, k3 left out of the paired statistics of this repeat")


def _stats(arm: list[float], base: list[float], metric: str = "loss") -> dict[str, Any]:
    return paired_stats(np.array(arm, dtype=float), np.array(base, dtype=float), metric)


def test_paired_stats_rows_have_the_same_columns_whatever_n() -> None:
    # Mutation testing found the empty row's columns unchecked: tables and CSV exports read
    # every row's columns, an arm with no shared repeat included.
    empty, full = _stats([], []), _stats([1.0, 2.0, 4.0], [2.0, 2.5, 3.0])
    assert empty == dict.fromkeys(full) | {"n": 0}
    assert set(empty) == set(_stats([1.0], [2.0])) == set(_stats([1.0, 2.0], [2.0, 2.5]))


def test_paired_stats_two_repeats_have_a_ci_and_p_values() -> None:
    # Two pairs are the fewest a CI, d_z and p-values exist for (t with 1 d.f.); power.py reads
    # the s.d. of differences back from this CI.
    arm, base = [0.9, 1.3], [1.0, 1.5]
    diff = np.array(arm) - np.array(base)
    half = sps.t.ppf(0.975, 1) * diff.std(ddof=1) / math.sqrt(2)
    row = _stats(arm, base)
    assert row["n"] == 2
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx(
        (diff.mean() - half, diff.mean() + half)
    )
    assert row["d_z"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert row["t_p"] == pytest.approx(sps.ttest_rel(arm, base).pvalue)
    assert row["wilcoxon_p"] == pytest.approx(sps.wilcoxon(arm, base).pvalue)


def test_win_rate_counts_strict_gains_only() -> None:
    # Accuracy differences are in percentage points: a tie is no win, half a point is one.
    base = [80.0, 80.0, 80.0, 80.0]
    accuracy = _stats([80.0, 80.5, 79.0, 82.0], base, "accuracy")
    assert accuracy["win_rate"] == pytest.approx(2 / 4)
    loss = _stats([1.0, 0.995, 1.01, 0.98], [1.0] * 4, "loss")  # lower is better
    assert loss["win_rate"] == pytest.approx(2 / 4)


def test_relative_diff_is_none_where_the_baseline_mean_is_zero() -> None:
    # A baseline at 0% accuracy (diverged in every repeat) has no relative scale; the
    # absolute statistics are still reported.
    row = _stats([10.0, 30.0, 20.0], [0.0, 0.0, 0.0], "accuracy")
    assert row["relative_diff"] is None
    assert row["mean_diff"] == pytest.approx(20.0) and row["win_rate"] == 1
    assert row["t_p"] == pytest.approx(sps.ttest_rel([10.0, 30.0, 20.0], [0.0] * 3).pvalue)


def test_paired_rows_without_baseline_values_are_empty_rows() -> None:
    # A baseline with no value yet (none of its runs finished, or no such split): every other
    # arm still gets its row, with nothing paired, rather than an error.
    rows = paired_rows({"smart": {0: 1.0, 1: 0.9}}, "original", {"rule": "final"}, "loss")
    assert [(r["arm"], r["baseline"], r["rule"], r["metric"]) for r in rows] == [
        ("smart", "original", "final", "loss")
    ]
    assert (rows[0]["n"], rows[0]["repeats"], rows[0]["mean_diff"]) == (0, [], None)


def test_pairing_check_without_a_spec_groups_by_the_recorded_init() -> None:
    # Without a spec the run records' `init` decides the scheme, and runs that record none
    # used PyTorch's default: only arms of the same recorded scheme must share weights.
    groups = {
        "original": {0: {"init_fingerprint": "a"}},
        "smart": {0: {"init_fingerprint": "b"}},
        "lsuv": {0: {"init_fingerprint": "c", "init": "lsuv"}},
        "orthogonal": {0: {"init_fingerprint": "d", "init": "orthogonal"}},
    }
    excluded, notes = pairing_check(groups, "original", {})
    assert excluded == {("smart", 0)}
    assert len(notes) == 1 and "arms original, smart (init pytorch)" in notes[0]


def test_constant_nonzero_differences_are_degenerate_with_no_interval() -> None:
    row = _stats([0.8, 0.9, 1.0, 1.1], [1.0, 1.1, 1.2, 1.3])  # every difference -0.2
    assert row["degenerate"] and row["mean_diff"] == pytest.approx(-0.2)
    assert (row["ci95_low"], row["ci95_high"], row["t_p"], row["d_z"]) == (None,) * 4
    assert (row["wins"], row["ties"], row["losses"], row["wilcoxon_n"]) == (4, 0, 0, 4)


def test_ties_are_counted_apart_and_wilcoxon_n_leaves_them_out() -> None:
    row = _stats([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.5, 2.0, 4.0, 5.5])
    assert (row["wins"], row["ties"], row["losses"]) == (2, 2, 1)
    assert row["win_rate"] == pytest.approx(2 / 5) and row["wilcoxon_n"] == 3
