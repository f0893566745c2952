"""core.stats.summary summarize, primary_sequence and preprocessing_share: which runs count, whose
fingerprint and init scheme decide the pairing, the planned repeats, the notes' wording.

Mutation testing (docs/testing.md) found these unchecked: run records without a status, the
baseline as the pairing reference, the spec's init schemes, n_opt's floor of two repeats, a zero
main time, and the full text of the notes a reader gets.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from core.spec import ExperimentSpec, parse_spec
from core.stats import summary as stats
from tests.core.run_records import record
from tests.core.test_stats import line, make_run

BASE = [1.00, 1.20, 0.90, 1.10]
SMART = [0.90, 1.00, 0.85, 1.00]


def _spec(**overrides: Any) -> ExperimentSpec:
    arms = [{"name": "original", "method": "original"}, {"name": "smart", "method": "smart_init"}]
    data = {"name": "s", "model": "small_cnn", "dataset": {"name": "digits"}, "arms": arms}
    return parse_spec(data | {"repeats": 4} | overrides)


def _runs() -> list[dict[str, Any]]:
    runs = [record("original", r, [2.0, v]) for r, v in enumerate(BASE)]
    return runs + [record("smart", r, [2.0, v]) for r, v in enumerate(SMART)]


# --- which runs count ----------------------------------------------------------------------


def test_primary_sequence_leaves_out_unfinished_runs() -> None:
    runs = _runs()
    runs[4 + 3]["status"] = "running"  # smart, repeat 3: its figures are partial
    (row,) = stats.primary_sequence(runs, _spec())
    assert (row["arm"], row["repeats"], row["n"]) == ("smart", [0, 1, 2], 3)
    finished = [run for run in runs if run["status"] == "done"]
    assert [row] == stats.summarize(finished, spec=_spec())["sequential"]


def test_run_records_without_a_status_count_as_finished() -> None:
    # results.json and imported runs carry no status (core.reports.report.finished reads them so).
    runs = _runs()
    for run in runs:
        del run["status"]
    (row,) = stats.primary_sequence(runs, _spec())
    assert (row["repeats"], row["n"]) == ([0, 1, 2, 3], 4)
    shares = stats.preprocessing_share(runs)
    assert [shares[arm]["n"] for arm in ("original", "smart")] == [4, 4]


def test_preprocessing_share_is_none_where_the_main_phase_took_no_time() -> None:
    runs = [make_run("a", 0, {}, wall={"main": 0.0, "preprocess": 1.0})]
    assert stats.preprocessing_share(runs)["a"] == {
        "n": 1,
        "preprocess_seconds_mean": 1.0,
        "main_seconds_mean": 0.0,
        "share": None,
    }


def test_an_arm_without_finished_runs_has_no_share_and_no_numpy_warning() -> None:
    runs = [make_run("a", 0, {}, status="running")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not numpy's "Mean of empty slice" and NaN
        share = stats.preprocessing_share(runs)["a"]
    assert (share["n"], share["preprocess_seconds_mean"], share["share"]) == (0, None, None)


# --- the pairing check's reference and init schemes ----------------------------------------


def test_the_baseline_fingerprint_is_the_reference_even_when_outvoted() -> None:
    # Repeat 1: a and b share weights the baseline did not start from; a and b are left out.
    runs = [record("original", r, [2.0, v]) for r, v in enumerate(BASE)]
    for arm in ("a", "b"):
        runs += [
            record(arm, r, [2.0, v], fingerprint="shared" if r == 1 else None)
            for r, v in enumerate(SMART)
        ]
    summary = stats.summarize(runs, "original", rules=("final",))
    assert {row["arm"]: row["repeats"] for row in summary["paired"]["final"]} == {
        "a": [0, 2, 3],
        "b": [0, 2, 3],
    }
    assert [note for note in summary["notes"] if note.startswith("pairing:")] == [
        "pairing: repeat 1: arms original, a, b (init pytorch) should start from the same"
        " weights but their init_fingerprint differs; a, b left out of the paired statistics"
        " of this repeat"
    ]
    arms = [{"name": name, "method": "original"} for name in ("original", "a", "b")]
    sequence = stats.primary_sequence(runs, _spec(arms=arms))
    assert {row["arm"]: row["repeats"] for row in sequence} == {"a": [0, 2, 3], "b": [0, 2, 3]}


def test_the_spec_init_schemes_decide_which_arms_must_share_weights() -> None:
    runs = _runs()
    for run in runs[4:]:
        run["init_fingerprint"] = f"lsuv{run['repeat']}"  # smart starts from its own weights
    lsuv = _spec(arms=[
        {"name": "original", "method": "original"},
        {"name": "smart", "method": "smart_init", "init": "lsuv"},
    ])
    # The runs record no scheme; the spec says smart's differs, so every pair counts.
    summary = stats.summarize(runs, spec=lsuv)
    assert summary["primary"]["rows"][0]["repeats"] == [0, 1, 2, 3]
    assert not [note for note in summary["notes"] if note.startswith("pairing:")]
    assert stats.primary_sequence(runs, lsuv)[0]["repeats"] == [0, 1, 2, 3]
    # The spec wins over a run's own record too: both pytorch there, so smart is left out.
    for run in runs[4:]:
        run["init"] = "lsuv"
    assert stats.summarize(runs, spec=_spec())["primary"]["rows"][0]["repeats"] == []
    assert stats.primary_sequence(runs, _spec())[0]["repeats"] == []


# --- the sequence's planned repeats and the notes ------------------------------------------


@pytest.mark.parametrize(("repeats", "n_opt"), [(1, 2), (2, 2), (3, 3), (6, 6)])
def test_the_sequence_is_tightest_at_the_planned_repeats_but_at_least_two(
    repeats: int, n_opt: int
) -> None:
    spec = _spec(repeats=repeats)
    assert stats.summarize(_runs(), spec=spec)["sequential"][0]["n_opt"] == n_opt
    assert stats.primary_sequence(_runs(), spec)[0]["n_opt"] == n_opt
    assert stats.summarize(_runs())["sequential"][0]["n_opt"] == 4  # the spec's default repeats


def test_the_notes_name_the_primary_and_the_paper_rules_arithmetic() -> None:
    summary = stats.summarize(_runs(), "original", rules=("val_loss", "paper"))
    assert summary["notes"] == [
        "primary: val loss under rule val_loss, declared before the runs; the other 11 paired"
        " comparisons over 2 rule(s) are secondary, their p Holm-adjusted within each rule",
        "paper: the paper's arithmetic — optimistic: picks the accuracy epoch on the reported"
        " set; std is the population std (ddof=0)",
    ]


def test_an_unknown_baseline_note_lists_every_arm() -> None:
    runs = [make_run(arm, 0, {"val": line([1.0])}) for arm in ("a", "b")]
    notes = stats.summarize(runs, "zzz", rules=("final",))["notes"]
    assert notes == ["baseline 'zzz' has no runs; arms: a, b"]
