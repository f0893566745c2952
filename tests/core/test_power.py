"""Power of the paired t-test (core.stats.power) against G*Power's values and a simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from core.stats.power import detectable_dz, pairs_needed, power, sd_of_differences
from core.stats.summary import paired_comparison


def test_power_matches_gpower_and_a_simulation() -> None:
    # G*Power 3.1, paired t-test, d_z 0.5, two-sided α 0.05, power 0.8: n = 34, actual 0.8078.
    assert power(0.5, 34) == pytest.approx(0.8078, abs=5e-4)
    assert pairs_needed(0.5) == 34 and power(0.5, 33) < 0.8
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.5, 1.0, (20_000, 34))
    rejected = sps.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(power(0.5, 34), abs=0.01)


def test_detectable_effect_shrinks_with_n_and_is_the_inverse_of_power() -> None:
    four, forty = detectable_dz(4), detectable_dz(40)
    assert four > 2 > 0.5 > forty > 0.4
    assert power(four, 4) == pytest.approx(0.8) and power(forty, 40) == pytest.approx(0.8)
    assert detectable_dz(1) == float("inf") and pairs_needed(0.0) is None


def test_sd_of_differences_is_recovered_from_the_paired_ci() -> None:
    base = [1.0, 2.0, 3.0, 4.0, 5.0]
    arm = [b + d for b, d in zip(base, [0.1, -0.2, 0.3, 0.0, 0.4], strict=True)]
    runs = [
        {"arm": name, "repeat": r, "metrics": [
            {"phase": "main", "epoch": 1, "split": "val", "loss": v, "accuracy": 0.5}]}
        for name, values in (("base", base), ("arm", arm)) for r, v in enumerate(values)
    ]
    row = paired_comparison(runs, "base", "final", "val", "loss")[0]
    assert sd_of_differences(row) == pytest.approx(np.std([0.1, -0.2, 0.3, 0.0, 0.4], ddof=1))
