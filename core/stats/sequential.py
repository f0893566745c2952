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
t-test does, and is valid at every n under continuous monitoring when they are; `shape_flag` says
when they look skewed. Accuracy endpoints default to the betting sequence (core.stats.betting),
which assumes only that the differences are bounded. Either is reported as its running
intersection over n, so a decision never reverts; docs/statistics.md has the simulated rates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.stats.betting import betting_cs
from core.stats.paired import FLAT
from core.stats.records import check_choice

DECISIONS = ("better", "worse", "undecided")
SEQUENCES = ("t_mixture", "betting")
ACCURACY_RANGE = 100.0  # accuracy differences are in percentage points, within [-100, 100]
T_ASSUMES = (
    "t_mixture assumes normal paired differences (any mean and s.d.); with skewed or"
    " heavy-tailed differences its error rate can exceed alpha"
)
BETTING_ASSUMES = "betting assumes only that each paired difference lies in [-100, 100] pp"
SKEW_LIMIT = 1.0  # |sample skewness| above this flags the t_mixture's normality condition
OUTLIER_MADS = 5.0  # a difference this many robust s.d.s from the median is an outlier


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


def degenerate_t(diffs: np.ndarray) -> np.ndarray:
    """Where (n >= 2) every difference so far is equal: the t-mixture's interval has zero width."""
    d = np.asarray(diffs, dtype=float)
    n = np.arange(1, d.shape[-1] + 1)
    spread = np.maximum.accumulate(d, axis=-1) - np.minimum.accumulate(d, axis=-1)
    size = np.maximum(1.0, np.maximum.accumulate(np.abs(d), axis=-1))
    return (n >= 2) & (spread <= FLAT * size)  # equal up to the rounding of the figures


def t_mixture_path(diffs: np.ndarray, alpha: float, g: float) -> tuple[np.ndarray, ...]:
    """t_mixture_cs with zero-variance prefixes unbounded: no decision on a zero-width interval."""
    mean, low, high = t_mixture_cs(diffs, alpha, g)
    flat = degenerate_t(diffs)
    return mean, np.where(flat, -np.inf, low), np.where(flat, np.inf, high)


def betting_path(diffs: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """(mean, low, high) of the betting sequence for differences in points within [-100, 100]."""
    d = np.asarray(diffs, dtype=float)
    x = np.clip((d / ACCURACY_RANGE + 1) / 2, 0.0, 1.0)  # [-100, 100] pp -> [0, 1]
    low, high = betting_cs(x, alpha)
    n = np.arange(1, d.size + 1)
    mean = np.cumsum(d) / n
    return mean, (2 * low - 1) * ACCURACY_RANGE, (2 * high - 1) * ACCURACY_RANGE


def running_intersection(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The intersection of the intervals up to each n: never wider, so a decision never reverts.

    Each interval covers the truth at every n at once (w.p. >= 1 - alpha), so their intersection
    does too (Howard et al. 2021, Section 3.3).
    """
    return np.maximum.accumulate(low, axis=-1), np.minimum.accumulate(high, axis=-1)


def sequence_kind(metric: str, kind: str | None) -> str:
    """The declared sequence, or the default: betting for accuracy, t_mixture for loss."""
    if kind is None:
        return "betting" if metric == "accuracy" else "t_mixture"
    check_choice(kind, SEQUENCES, "sequence")
    return kind


def decision(low: float, high: float, metric: str) -> str:
    """better / worse when the sequence excludes 0 on that side (lower loss, higher accuracy)."""
    if low > 0:
        return "worse" if metric == "loss" else "better"
    if high < 0:
        return "better" if metric == "loss" else "worse"
    return "undecided"


def _paths(d: np.ndarray, kind: str, alpha: float, n_opt: float) -> tuple[np.ndarray, ...]:
    if kind == "betting":
        return betting_path(d, alpha)
    return t_mixture_path(d, alpha, effect_prior(n_opt, alpha))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def sequence(
    diffs: Sequence[float], metric: str, alpha: float, n_opt: float, kind: str | None = None
) -> dict[str, Any]:
    """The confidence sequence of one arm's paired differences, in repeat order, at every n.

    cs_low / cs_high are the running intersection (what decides); the path also keeps each n's
    own interval (n_low / n_high).
    """
    kind = sequence_kind(metric, kind)
    empty = {"n": 0, "mean_diff": None, "cs_low": None, "cs_high": None}
    if not diffs:
        return {**empty, "sequence": kind, "decided": "undecided", "degenerate": False,
                "path": []}  # fmt: skip
    d = np.array(diffs, dtype=float)
    mean, low, high = _paths(d, kind, alpha, n_opt)
    kept_low, kept_high = running_intersection(low, high)
    path = [
        {"n": i + 1, "mean_diff": float(mean[i]), "cs_low": _finite(kept_low[i]),
         "cs_high": _finite(kept_high[i]), "n_low": _finite(low[i]), "n_high": _finite(high[i])}
        for i in range(d.size)
    ]  # fmt: skip
    degenerate = kind == "t_mixture" and bool(degenerate_t(d)[-1])
    decided = decision(float(kept_low[-1]), float(kept_high[-1]), metric)
    last = {k: v for k, v in path[-1].items() if k in empty}
    return {**last, "sequence": kind, "decided": decided, "degenerate": degenerate,
            **condition(d, kind), "path": path}  # fmt: skip


def condition(d: np.ndarray, kind: str) -> dict[str, Any]:
    """What the sequence assumes, and whether these differences look like breaking it."""
    if kind == "betting":
        return {"assumes": BETTING_ASSUMES, "assumption_flag": None}
    return {"assumes": T_ASSUMES, "assumption_flag": shape_flag(d)}


def shape_flag(d: np.ndarray) -> str | None:
    """'skewed' or 'outliers' when the differences look non-normal (n >= 5), else None."""
    if d.size < 5 or np.ptp(d) == 0:
        return None
    centred = d - np.median(d)
    mad = 1.4826 * np.median(np.abs(centred))
    if mad > 0 and np.any(np.abs(centred) > OUTLIER_MADS * mad):
        return "outliers"
    skew = float(np.mean((d - d.mean()) ** 3) / np.std(d) ** 3)
    return "skewed" if abs(skew) > SKEW_LIMIT else None


@functools.lru_cache(maxsize=256)  # asked once per experiment of a sweep, with few distinct alphas
def fewest_pairs(kind: str, alpha: float, most: int) -> int | None:
    """The fewest repeats (each the planned n_opt) at which the sequence can decide at all, for
    the most favourable data (t_mixture: nearly equal differences; betting: every difference
    +100 points); None if not within `most`."""
    if kind == "betting":
        for length in sorted({min(most, k) for k in (64, 256, most)}):  # cheap where it is early
            _, low, _ = betting_path(np.full(length, ACCURACY_RANGE), alpha)
            reached = np.flatnonzero(low > 0)
            if reached.size:
                return int(reached[0]) + 1
        return None
    for n in range(2, most + 1):  # bounded at n pairs when (1 + n g)^(n - 1) > 1 / alpha^2
        if (n - 1) * math.log1p(n * effect_prior(n, alpha)) > -2 * math.log(alpha):
            return n
    return None


def sequential_rows(
    values: Mapping[str, Mapping[int, float]],
    baseline: str,
    primary: Mapping[str, Any],
    *,
    arms: Sequence[str] | None = None,
    alpha: float,
    n_opt: float,
    min_repeats: int,
    excluded: frozenset[tuple[str, int]] = frozenset(),
) -> list[dict[str, Any]]:
    """Per compared arm, the primary difference's sequence; alpha split over the arms.

    Bonferroni over the k arms the spec compares (alpha / k each, k fixed before any run, an arm
    without runs included) keeps the chance that any of them is decided wrongly at or below
    alpha. `stop` is true once it is decided after min_repeats pairs.
    """
    base = values.get(baseline, {})
    compared = list(arms) if arms is not None else [a for a in values if a != baseline]
    each = alpha / max(1, len(compared))
    rows = []
    for arm in compared:
        mine = values.get(arm, {})
        repeats = sorted(r for r in set(base) & set(mine) if (arm, r) not in excluded)
        diffs = [mine[r] - base[r] for r in repeats]
        seq = sequence(diffs, primary["metric"], each, n_opt, primary.get("sequence"))
        stop = seq["decided"] != "undecided" and seq["n"] >= min_repeats
        rows.append({"arm": arm, "baseline": baseline, **primary, **seq, "alpha": alpha,
                     "alpha_arm": each, "arms_compared": len(compared), "n_opt": n_opt,
                     "min_repeats": min_repeats, "stop": stop, "repeats": repeats})  # fmt: skip
    return rows


def arms_to_stop(
    rows: Sequence[Mapping[str, Any]], mode: bool | str, arms: Sequence[str]
) -> list[str]:
    """The arms whose runs may stop: every arm once each compared arm's row says stop; in mode
    'arm' also each such arm alone (the baseline keeps running for the others)."""
    stopped = [row["arm"] for row in rows if row["stop"]]
    if rows and len(stopped) == len(rows):
        return list(arms)
    return stopped if mode == "arm" else []
