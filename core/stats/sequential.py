"""Anytime-valid confidence sequences for the paired differences of the primary comparison.

Howard, Ramdas, McAuliffe & Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic
confidence sequences" (Ann. Statist. 49(2)): for a sum S_n whose increments are sub-Gaussian
with variance process V_n, the two-sided normal-mixture boundary
    |S_n| < sqrt((V_n + rho) (log(1 + V_n / rho) + 2 log(1 / alpha)))          (their eq. 14)
holds for all n at once with probability >= 1 - alpha (mixing exp(l S - l^2 V / 2) over
l ~ N(0, 1 / rho) and Ville's inequality). `best_rho` makes it tightest at V = v_opt.

Paired differences of repeated training runs have an unknown s.d., and there are few of them
(4-20), so a plug-in variance would not keep the error rate. `t_mixture_cs` therefore uses the
scale-invariant form of the same normal mixture (Lai 1976, "On confidence sequences"; the
"safe t-test" of Grunwald, de Heide & Koolen): the effect in s.d. units, mu / sigma, is mixed
over N(0, g) and sigma over the right-Haar prior 1 / sigma, giving the e-process
    E_n(mu) = (1 + n g)^(-1/2) * (1 + r) ^ (n/2) / (1 + r / (1 + n g)) ^ (n/2),
    r = n (mean - mu)^2 / Q,  Q = sum (d_i - mean)^2,
a nonnegative martingale under N(mu, sigma^2) for every sigma. The sequence is
{mu : E_n(mu) < 1 / alpha}, in closed form an interval around the mean (below). As n grows it
approaches the normal-mixture boundary above with V_n = n sigma^2 and rho = sigma^2 / g, so g is
chosen as best_rho does: tightest at n_opt pairs. It assumes normal differences, as the paired
t-test does, and is valid at every n under continuous monitoring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DECISIONS = ("better", "worse", "undecided")


def best_rho(v_opt: float, alpha: float) -> float:
    """Howard et al.'s rho that makes the two-sided normal mixture tightest at V = v_opt."""
    log_inv = math.log(1 / alpha)
    return v_opt / (2 * log_inv + math.log(1 + 2 * log_inv))


def normal_mixture_log_mg(s: float, v: float, rho: float) -> float:
    """log of the two-sided normal-mixture supermartingale at sum s and variance process v."""
    return 0.5 * math.log(rho / (v + rho)) + s * s / (2 * (v + rho))


def normal_mixture_bound(v: float, alpha: float, rho: float) -> float:
    """Howard et al. (2021) eq. 14: |S_n| stays below this at every n w.p. >= 1 - alpha."""
    return math.sqrt((v + rho) * (math.log(1 + v / rho) + 2 * math.log(1 / alpha)))


def effect_prior(n_opt: float, alpha: float) -> float:
    """g, the prior variance of mu / sigma, so the sequence is tightest at n_opt pairs."""
    return 1.0 / best_rho(n_opt, alpha)  # rho in units of sigma^2 at V = n_opt sigma^2


def t_mixture_cs(diffs: np.ndarray, alpha: float, g: float) -> tuple[np.ndarray, ...]:
    """(mean, low, high) after each of the first n = 1, 2, … differences along the last axis.

    E_n(mu) < 1/alpha  <=>  r < (K - 1) / (1 - K / (1 + n g)),  K = ((1 + n g) / alpha^2)^(1/n),
    and the half-width is sqrt(r Q) / n. Where K >= 1 + n g (too few pairs: E_n is bounded by
    (1 + n g)^((n-1)/2) < 1/alpha) the interval is the whole line.
    """
    d = np.asarray(diffs, dtype=float)
    n = np.arange(1, d.shape[-1] + 1, dtype=float)
    total, squares = np.cumsum(d, axis=-1), np.cumsum(d * d, axis=-1)
    mean = total / n
    q = np.maximum(squares - n * mean**2, 0.0)  # sum of squared deviations, rounding-safe
    k = np.exp((np.log1p(n * g) - 2 * np.log(alpha)) / n)
    bounded = k < 1 + n * g
    r = np.where(bounded, (k - 1) / np.where(bounded, 1 - k / (1 + n * g), 1.0), np.inf)
    with np.errstate(invalid="ignore"):
        half = np.where(bounded, np.sqrt(np.where(bounded, r, 0.0) * q / n), np.inf)
    return mean, mean - half, mean + half


def decision(low: float, high: float, metric: str) -> str:
    """better / worse when the sequence excludes 0 on that side (lower loss, higher accuracy)."""
    if low > 0:
        return "worse" if metric == "loss" else "better"
    if high < 0:
        return "better" if metric == "loss" else "worse"
    return "undecided"


def sequence(diffs: Sequence[float], metric: str, alpha: float, n_opt: float) -> dict[str, Any]:
    """The confidence sequence of one arm's paired differences, in repeat order, at every n."""
    if not diffs:
        return {
            "n": 0,
            "mean_diff": None,
            "cs_low": None,
            "cs_high": None,
            "decided": "undecided",
            "path": [],
        }
    mean, low, high = t_mixture_cs(np.array(diffs), alpha, effect_prior(n_opt, alpha))
    path = [
        {
            "n": i + 1,
            "mean_diff": float(mean[i]),
            "cs_low": float(low[i]),
            "cs_high": float(high[i]),
        }
        for i in range(len(diffs))
    ]
    return {**path[-1], "decided": decision(float(low[-1]), float(high[-1]), metric), "path": path}


def sequential_rows(
    values: Mapping[str, Mapping[int, float]],
    baseline: str,
    primary: Mapping[str, str],
    *,
    alpha: float,
    n_opt: float,
    min_repeats: int,
    excluded: frozenset[tuple[str, int]] = frozenset(),
) -> list[dict[str, Any]]:
    """Per non-baseline arm, the primary difference's sequence; alpha split over the arms.

    Bonferroni over the k compared arms (alpha / k each) keeps the chance that any of them is
    decided wrongly at or below alpha. `stop` is true once it is decided after min_repeats pairs.
    """
    base = values.get(baseline, {})
    arms = [arm for arm in values if arm != baseline]
    rows = []
    for arm in arms:
        repeats = sorted(r for r in set(base) & set(values[arm]) if (arm, r) not in excluded)
        diffs = [values[arm][r] - base[r] for r in repeats]
        each = alpha / len(arms)
        seq = sequence(diffs, primary["metric"], each, n_opt)
        stop = seq["decided"] != "undecided" and seq["n"] >= min_repeats
        rows.append(
            {
                "arm": arm,
                "baseline": baseline,
                **primary,
                **seq,
                "alpha": alpha,
                "alpha_arm": each,
                "n_opt": n_opt,
                "min_repeats": min_repeats,
                "stop": stop,
                "repeats": repeats,
            }
        )
    return rows
