"""Defaults that can decide, and the submit warning for a spec whose primary never could."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.spec import ExperimentSpec, SpecError, parse_spec
from core.stats.sequential import fewest_pairs, sequence
from core.training.stopping import decision_warnings


def _spec(arms: int = 2, **fields: Any) -> ExperimentSpec:
    names = [{"name": f"arm{i}", "method": "original"} for i in range(arms)]
    return parse_spec({"name": "w", "model": "small_cnn", "dataset": {"name": "digits"},
                       "arms": names, **fields})  # fmt: skip


def test_the_default_spec_can_decide() -> None:
    spec = _spec()
    assert spec.min_repeats <= spec.repeats
    assert decision_warnings(spec) == []


@pytest.mark.parametrize(("kind", "alpha"), [("t_mixture", 0.05), ("t_mixture", 0.0125),
                                             ("betting", 0.05), ("betting", 0.025)])  # fmt: skip
def test_fewest_pairs_is_where_the_clearest_data_first_decides(kind: str, alpha: float) -> None:
    n = fewest_pairs(kind, alpha, 1000)
    assert n is not None
    metric = "accuracy" if kind == "betting" else "loss"
    clearest = 100.0 - 1e-3 * np.arange(n) if kind == "betting" else -1 - 1e-3 * np.arange(n)
    assert sequence(list(clearest), metric, alpha, n, kind)["decided"] != "undecided"
    assert sequence(list(clearest[:-1]), metric, alpha, n - 1, kind)["decided"] == "undecided"


def test_specs_that_can_never_decide_are_warned_with_the_repeats_that_could() -> None:
    (three,) = decision_warnings(_spec(arms=3))
    assert "over 2 compared arm(s) (0.025 each)" in three and "repeats >= 5 could" in three
    (accuracy,) = decision_warnings(_spec(primary={"metric": "accuracy"}))
    assert "betting sequence" in accuracy and "repeats >= 10 could" in accuracy
    assert decision_warnings(_spec(primary={"metric": "accuracy"}, repeats=10)) == []
    (early,) = decision_warnings(_spec(stop_when_decided=True, min_repeats=6))
    assert early == "stop_when_decided can never stop early: min_repeats 6 exceeds repeats 4"
    assert decision_warnings(_spec(arms=1)) == []  # nothing compared, nothing to decide



def test_stop_when_decided_takes_true_false_or_arm_and_names_them_otherwise() -> None:
    assert _spec(stop_when_decided="arm").stop_when_decided == "arm"
    assert _spec(stop_when_decided=True).stop_when_decided is True
    with pytest.raises(SpecError) as bad_mode:
        _spec(stop_when_decided="maybe")
    assert bad_mode.value.errors == [
        "stop_when_decided: 'maybe' is not a stop mode; valid choices: true, false, arm"
    ]
    with pytest.raises(SpecError) as bad_sequence:
        _spec(primary={"sequence": "bayes"})
    assert "'t_mixture' or 'betting' (got 'bayes')" in bad_sequence.value.errors[0]
