"""The betting confidence sequence (Waudby-Smith & Ramdas 2023) against a direct transcription
of the paper's definitions, and its edges against its own capital process."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.stats.betting import betting_cs, log_capital
from core.stats.sequential import betting_path, sequence

ALPHA = 0.05


def _capital_by_hand(x: list[float], m: float, alpha: float) -> list[float]:
    """K_t(m) one step at a time, as WSR's Section 4.2 writes it (theta 1/2, c 1/2)."""
    mu_sum, dev_sum, s2_before = 0.0, 0.0, 0.25
    up, down, out = 1.0, 1.0, []
    for t, xi in enumerate(x, start=1):
        lam = math.sqrt(2 * math.log(2 / alpha) / (s2_before * t * math.log(1 + t)))
        up *= 1 + min(lam, 0.5 / m) * (xi - m)
        down *= 1 - min(lam, 0.5 / (1 - m)) * (xi - m)
        out.append(max(up / 2, down / 2))
        mu_sum += xi
        mu = (0.5 + mu_sum) / (t + 1)
        dev_sum += (xi - mu) ** 2
        s2_before = (0.25 + dev_sum) / (t + 1)
    return out


@pytest.mark.parametrize("m", [0.1, 0.35, 0.5, 0.62, 0.9])
def test_capital_matches_the_papers_definition(m: float) -> None:
    x = np.random.default_rng(3).beta(2, 3, size=25)
    by_hand = _capital_by_hand(list(x), m, ALPHA)
    assert np.exp(log_capital(x, m, ALPHA)) == pytest.approx(by_hand, rel=1e-9)


def test_edges_are_where_the_capital_crosses_one_over_alpha() -> None:
    x = np.random.default_rng(4).beta(5, 2, size=30)
    low, high = betting_cs(x, ALPHA)
    threshold = 1 / ALPHA
    for t in (9, 19, 29):
        inside = np.exp(log_capital(x[: t + 1], np.array([low[t] + 1e-3, high[t] - 1e-3]), ALPHA))
        outside = np.exp(log_capital(x[: t + 1], np.array([low[t], high[t]]), ALPHA))
        assert np.all(inside[:, -1] < threshold) and np.all(outside[:, -1] >= threshold)
        assert low[t] < x[: t + 1].mean() < high[t]


def test_accuracy_differences_map_from_points_to_the_unit_interval() -> None:
    d = np.array([70.0, 85, 65, 90, 80, 75, 85, 70, 80, 90, 75, 80])
    mean, low, high = betting_path(d, ALPHA)
    x_low, x_high = betting_cs((d / 100 + 1) / 2, ALPHA)
    assert low == pytest.approx((2 * x_low - 1) * 100)
    assert high == pytest.approx((2 * x_high - 1) * 100)
    assert mean[-1] == pytest.approx(d.mean())
    seq = sequence(list(d), "accuracy", ALPHA, 12)
    assert seq["sequence"] == "betting" and seq["decided"] == "better"
    assert seq["assumption_flag"] is None and "[-100, 100]" in seq["assumes"]
    # Bounded by [-100, 100] alone, a 40-point gain is still undecided after 12 pairs.
    assert sequence(list(d - 40), "accuracy", ALPHA, 12)["decided"] == "undecided"
