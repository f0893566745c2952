"""Simulated error and stop rates of the primary's confidence sequences (docs/statistics.md).

    PYTHONPATH=. python bench/sequential_rates.py        # about ten seconds on one core

Fixed seeds; each rate is the share of simulated experiments of 20 repeats (50 where named),
watched after every pair, in which the sequence ever excludes the true mean difference.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from core.stats.betting import log_capital
from core.stats.sequential import (
    arms_to_stop,
    effect_prior,
    running_intersection,
    sequential_rows,
    t_mixture_path,
)

ALPHA, EXPERIMENTS = 0.05, 4000


def t_mixture_error(d: np.ndarray, mean: float) -> float:
    _, low, high = t_mixture_path(d, ALPHA, effect_prior(d.shape[1], ALPHA))
    return float(np.mean(np.any((low > mean) | (high < mean), axis=1)))


def betting_error(x: np.ndarray, mean: float) -> float:
    return float(np.mean(np.any(log_capital(x, mean, ALPHA) >= math.log(1 / ALPHA), axis=1)))


def null_rates(repeats: int) -> None:
    rng = np.random.default_rng(2026)
    shape = (EXPERIMENTS, repeats)
    print(f"null error rates, {repeats} repeats (alpha {ALPHA}):")
    print(f"  normal         t_mixture {t_mixture_error(rng.standard_normal(shape), 0):.4f}")
    print(f"  t(3)           t_mixture {t_mixture_error(rng.standard_t(3, shape), 0):.4f}")
    ln = rng.lognormal(0, 1, shape)
    print(f"  lognormal      t_mixture {t_mixture_error(ln, math.exp(0.5)):.4f}")
    print(f"  exponential    t_mixture {t_mixture_error(rng.exponential(1, shape), 1):.4f}")
    bounded = {
        "uniform": (rng.uniform(0.3, 0.7, shape), 0.5),
        "t(3) clipped": (0.5 + np.clip(0.1 * rng.standard_t(3, shape), -0.5, 0.5), 0.5),
        "two-point skew": (0.5 + np.where(rng.random(shape) < 0.1, 0.45, -0.05), 0.5),
        "beta(0.5, 5)": (rng.beta(0.5, 5, shape), 1 / 11),
    }
    for name, (x, m) in bounded.items():
        t_rate = t_mixture_error(2 * x - 1, 2 * m - 1)
        print(f"  {name:<14} t_mixture {t_rate:.4f}  betting {betting_error(x, m):.4f}")


def optional_stopping(repeats: int = 20, effect: float = 0.5) -> None:
    """Fixed-n figures of experiments stopped when the t-mixture decided (>= 5 pairs)."""
    d = effect + np.random.default_rng(7).standard_normal((EXPERIMENTS, repeats))
    _, low, high = t_mixture_path(d, ALPHA, effect_prior(repeats, ALPHA))
    low, high = running_intersection(low, high)
    decided = (low > 0) | (high < 0)
    decided[:, :4] = False
    stopped = decided.any(axis=1)
    n = np.where(stopped, decided.argmax(axis=1) + 1, repeats)
    dz, covered, seq_covered = [], [], []
    for i in np.flatnonzero(stopped):
        x = d[i, : n[i]]
        sd = x.std(ddof=1)
        half = sps.t.ppf(0.975, n[i] - 1) * sd / math.sqrt(n[i])
        dz.append(x.mean() / sd)
        covered.append(abs(x.mean() - effect) <= half)
        seq_covered.append(low[i, n[i] - 1] <= effect <= high[i, n[i] - 1])
    print(f"true d_z {effect}, stop when decided after >= 5 of {repeats} pairs:")
    print(f"  stopped early in {stopped.mean():.3f}; among them fixed-n d_z {np.mean(dz):.2f},"
          f" t CI covers the truth {np.mean(covered):.3f}, the sequence {np.mean(seq_covered):.3f}")


def stop_rates(effects: tuple[float, float], mode: bool | str, runs: int = 1000) -> np.ndarray:
    rng, stops = np.random.default_rng(21), np.zeros(2)
    for _ in range(runs):
        base = rng.standard_normal(20)
        values = {"base": dict(enumerate(base))}
        for arm, effect in zip("ab", effects, strict=True):
            values[arm] = dict(enumerate(base + effect + rng.standard_normal(20)))
        rows = sequential_rows(values, "base", {"metric": "loss"}, arms=["a", "b"], alpha=ALPHA,
                               n_opt=20, min_repeats=5)  # fmt: skip
        stopping = arms_to_stop(rows, mode, ["base", "a", "b"])
        stops += [arm in stopping for arm in "ab"]
    return stops / runs


if __name__ == "__main__":
    null_rates(20)
    null_rates(50)
    optional_stopping()
    for effects in ((0.0, 0.0), (-2.0, 0.0)):
        for mode in (True, "arm"):
            rates = stop_rates(effects, mode)
            print(f"stop rates, d_z {effects}, stop_when_decided {mode}: {rates}")
