"""core.stats.summary selection rules and the tables built on them: labels, gaps in the data,
defaults.

Mutation testing (docs/testing.md) found these unchecked: what each rule writes in
`selected_by` (the tables count a run as a fallback where it differs from the rule), splits
measured without a loss or without an accuracy, the tables' default rule, rule label and
epoch spread, and that a lone run gives no numpy warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from core.stats import summary as stats
from tests.core.test_stats import RUN, line, make_run

UNKNOWN_RULE = r"^unknown rule 'best'; valid choices: val_loss, final, paper$"


def test_select_and_table_rows_name_the_rule_argument_in_their_errors() -> None:
    with pytest.raises(ValueError, match=UNKNOWN_RULE):
        stats.select(RUN, "best")
    with pytest.raises(ValueError, match=UNKNOWN_RULE):
        stats.table_rows([RUN], "best")


@pytest.mark.parametrize("rule", stats.RULES)
def test_every_pick_of_a_rule_is_labelled_with_that_rule(rule: str) -> None:
    # Under "paper" the test split is the final epoch's, yet still the paper's own rule.
    picked = stats.select(RUN, rule)
    assert sorted(picked) == ["test", "train", "val"]
    assert {split: p["selected_by"] for split, p in picked.items()} == dict.fromkeys(picked, rule)


@pytest.mark.parametrize("rule", stats.RULES)
def test_runs_with_a_val_loss_count_no_fallback_in_tables_or_notes(rule: str) -> None:
    runs = [{**RUN, "repeat": r} for r in range(3)]
    rows = stats.table_rows(runs, rule)
    assert [(row["split"], row["n"], row["n_fallback"]) for row in rows] == [
        (split, 3, 0) for split in ("val", "test", "train")
    ]
    notes = stats.summarize(runs, None, rules=(rule,))["notes"]
    assert not [note for note in notes if "have no val loss" in note]


def test_paper_rule_on_splits_measured_without_loss_or_without_accuracy() -> None:
    # val: accuracy only (loss never recorded); train: loss only.
    run = make_run(
        "a", 0, {"val": [(1, None, 0.3), (2, None, 0.5)], "train": [(1, 2.0, None), (2, 1.5, None)]}
    )
    picked = stats.select(run, "paper")
    assert picked["val"] == {
        "loss": None,
        "accuracy": 0.5,
        "epoch": None,
        "loss_epoch": None,
        "accuracy_epoch": 2,
        "selected_by": "paper",
    }
    assert picked["train"] == {
        "loss": 1.5,
        "accuracy": None,
        "epoch": 2,
        "loss_epoch": 2,
        "accuracy_epoch": None,
        "selected_by": "paper",
    }


def test_table_of_a_split_without_accuracy_keeps_its_loss_figures() -> None:
    runs = [make_run("a", r, {"train": [(1, 2.0 + r, None), (2, 1.5 + r, None)]}) for r in range(2)]
    (row,) = stats.table_rows(runs, "final")
    assert (row["loss_mean"], row["loss_median"]) == (2.0, 2.0)
    assert row["loss_std"] == pytest.approx(np.std([1.5, 2.5], ddof=1))
    assert (row["acc_mean"], row["acc_std"], row["acc_median"]) == (None, None, None)


def test_table_rows_default_to_val_loss_and_label_their_rule() -> None:
    runs = [make_run("a", r, {"val": line([2.0, 1.0 + r, 1.5])}) for r in range(3)]
    rows = stats.table_rows(runs)
    assert rows == stats.table_rows(runs, "val_loss")
    assert [row["rule"] for row in rows] == ["val_loss"]
    assert [row["rule"] for row in stats.table_rows(runs, "paper")] == ["paper"]


def test_table_epoch_spread_is_the_std_of_the_chosen_epochs() -> None:
    # Val loss is lowest at epochs 1, 2 and 4: mean 7/3, median 2, std by the rule's ddof.
    lows = [[1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]]
    runs = [make_run("a", r, {"val": line(losses)}) for r, losses in enumerate(lows)]
    for rule, ddof in (("val_loss", 1), ("paper", 0)):
        (row,) = stats.table_rows(runs, rule)
        assert row["epoch_mean"] == pytest.approx(7 / 3)
        assert row["epoch_median"] == 2
        assert row["epoch_std"] == pytest.approx(np.std([1, 2, 4], ddof=ddof))


def test_a_lone_run_has_no_sample_std_and_raises_no_numpy_warning() -> None:
    # One value leaves ddof=1 no freedom: std is None, not numpy's NaN with a RuntimeWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (row,) = stats.table_rows([make_run("a", 0, {"val": line([2.0, 1.0])})], "final")
    assert (row["n"], row["loss_mean"], row["loss_std"], row["epoch_std"]) == (1, 1.0, None, None)
