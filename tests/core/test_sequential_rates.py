"""Error and stop rates of the primary's sequences, simulated with fixed seeds and checked
against their bounds (docs/statistics.md records the rates these simulations give)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.stats.betting import log_capital
from core.stats.sequential import (
    arms_to_stop,
    effect_prior,
    sequential_rows,
    shape_flag,
    t_mixture_path,
)

ALPHA = 0.05
EXPERIMENTS, REPEATS = 2000, 20
SLACK = 3 * math.sqrt(ALPHA * (1 - ALPHA) / EXPERIMENTS)  # three standard errors


def t_mixture_error(d: np.ndarray, mean: float) -> float:
    """Share of experiments whose t-mixture sequence excludes the true mean at some n."""
    _, low, high = t_mixture_path(d, ALPHA, effect_prior(REPEATS, ALPHA))
    return float(np.mean(np.any((low > mean) | (high < mean), axis=1)))


def betting_error(x: np.ndarray, mean: float) -> float:
    """Share of experiments whose betting capital at the true mean reaches 1 / alpha at some n."""
    return float(np.mean(np.any(log_capital(x, mean, ALPHA) >= math.log(1 / ALPHA), axis=1)))


def _bounded(name: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Null paired differences mapped to [0, 1] (x = (d + 1) / 2) and their true mean."""
    shape = (EXPERIMENTS, REPEATS)
    if name == "uniform":
        return rng.uniform(0.3, 0.7, shape), 0.5
    if name == "t3":
        return 0.5 + np.clip(0.1 * rng.standard_t(3, shape), -0.5, 0.5), 0.5
    if name == "two_point_skewed":  # +0.9 once in ten, -0.1 otherwise: mean 0
        return 0.5 + np.where(rng.random(shape) < 0.1, 0.45, -0.05), 0.5
    return rng.beta(0.5, 5, shape), 1 / 11  # beta_skewed


@pytest.mark.parametrize("name", ["uniform", "t3", "two_point_skewed", "beta_skewed"])
def test_betting_keeps_alpha_on_bounded_null_differences(name: str) -> None:
    x, mean = _bounded(name, np.random.default_rng(11))
    assert betting_error(x, mean) <= ALPHA + SLACK


def test_t_mixture_keeps_alpha_on_normal_and_t3_nulls() -> None:
    rng = np.random.default_rng(12)
    assert t_mixture_error(rng.standard_normal((EXPERIMENTS, REPEATS)), 0.0) <= ALPHA + SLACK
    assert t_mixture_error(rng.standard_t(3, (EXPERIMENTS, REPEATS)), 0.0) <= ALPHA + SLACK


def test_t_mixture_breaks_on_skewed_nulls_and_the_flag_says_so() -> None:
    """Why it states its normality condition: lognormal differences push it well above alpha."""
    rng = np.random.default_rng(13)
    skewed = rng.lognormal(0, 1, (EXPERIMENTS, REPEATS))
    assert t_mixture_error(skewed, math.exp(0.5)) > ALPHA + SLACK
    x, mean = _bounded("beta_skewed", rng)
    assert t_mixture_error(2 * x - 1, 2 * mean - 1) > ALPHA + SLACK
    assert betting_error(x, mean) <= ALPHA + SLACK  # the same data, bounded: betting holds
    flagged = np.mean([shape_flag(d) is not None for d in skewed[:500]])
    normal = rng.standard_normal((500, REPEATS))
    assert flagged > 0.7 and np.mean([shape_flag(d) is not None for d in normal]) < 0.2


def _stop_rates(effects: tuple[float, float], mode: bool | str, seed: int) -> np.ndarray:
    """Per arm of two compared arms, the share of experiments in which its runs stop by the
    last repeat (decided and stop_when_decided say so), through the real decision code."""
    rng = np.random.default_rng(seed)
    stops = np.zeros(2)
    for _ in range(400):
        base = rng.standard_normal(REPEATS)
        values = {"base": dict(enumerate(base))}
        for arm, effect in zip(("a", "b"), effects, strict=True):
            values[arm] = dict(enumerate(base + effect + rng.standard_normal(REPEATS)))
        rows = sequential_rows(
            values, "base", {"metric": "loss"}, arms=["a", "b"], alpha=ALPHA, n_opt=REPEATS,
            min_repeats=5,
        )  # fmt: skip
        stopping = arms_to_stop(rows, mode, ["base", "a", "b"])
        stops += [arm in stopping for arm in ("a", "b")]
    return stops / 400


def test_stop_rates_of_arm_and_all() -> None:
    """Both null: neither mode stops more often than alpha. One arm clearly better, one null:
    `arm` stops that arm's runs nearly always and keeps the other; `all` stops neither."""
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / 400)
    for mode in (True, "arm"):
        assert np.all(_stop_rates((0.0, 0.0), mode, 21) <= ALPHA + slack)
    per_arm = _stop_rates((-2.0, 0.0), "arm", 22)
    assert per_arm[0] > 0.9 and per_arm[1] <= ALPHA + slack
    assert np.all(_stop_rates((-2.0, 0.0), True, 22) <= ALPHA + slack)
