"""The betting confidence sequence for bounded paired differences (accuracy endpoints).

Waudby-Smith & Ramdas (2023), "Estimating means of bounded random variables by betting"
(JRSS-B 86(1)), the hedged capital process with predictable plug-in bets (their Section 4.2,
eq. 26-27, and confseq's `betting_cs` defaults): for x_i in [0, 1] and a candidate mean m,
    K+_t(m) = prod (1 + l+_i(m) (x_i - m)),   K-_t(m) = prod (1 - l-_i(m) (x_i - m)),
    K_t(m) = max(theta K+_t(m), (1 - theta) K-_t(m)),  theta = 1/2,
    l_i = sqrt(2 log(1 / (alpha theta)) / (s2_{i-1} i log(1 + i))),
    l+_i(m) = min(l_i, c / m),  l-_i(m) = min(l_i, c / (1 - m)),  c = 1/2,
with mu_i = (1/2 + sum x) / (i + 1) and s2_i = (1/4 + sum (x_j - mu_j)^2) / (i + 1), each bet
using only the pairs before it. K_t(m) is at most the hedged capital theta K+ + (1 - theta) K-,
a nonnegative martingale when the mean is m, whatever the distribution in [0, 1], so
{m : K_t(m) < 1 / alpha} covers the mean at every t at once with probability >= 1 - alpha
(Ville's inequality; the max rejects no more often than the sum). No normality is assumed.
"""

from __future__ import annotations

import numpy as np

THETA = 0.5  # hedge weight between betting on a higher and on a lower mean
TRUNCATION = 0.5  # c: a bet never stakes more than half the capital
GRID = 4001  # candidate means on [0, 1]: steps of 0.05 percentage points of accuracy


def bets(x: np.ndarray, alpha: float) -> np.ndarray:
    """The predictable plug-in bets l_i along the last axis (each from the pairs before i)."""
    t = np.arange(1, x.shape[-1] + 1, dtype=float)
    mu = (0.5 + np.cumsum(x, axis=-1)) / (t + 1)
    s2 = (0.25 + np.cumsum((x - mu) ** 2, axis=-1)) / (t + 1)
    before = np.concatenate([np.full(x.shape[:-1] + (1,), 0.25), s2[..., :-1]], axis=-1)
    return np.sqrt(2 * np.log(1 / (alpha * THETA)) / (before * t * np.log1p(t)))


def log_capital(x: np.ndarray, m: np.ndarray | float, alpha: float) -> np.ndarray:
    """log K_t(m) after each t along x's last axis; m broadcasts against x's leading axes."""
    m = np.asarray(m, dtype=float)[..., None]
    lam = bets(x, alpha)
    with np.errstate(divide="ignore"):
        up = np.minimum(lam, TRUNCATION / m)
        down = np.minimum(lam, TRUNCATION / (1 - m))
    # Truncation keeps each factor >= 1 - c > 0, so the logs are finite.
    log_up = np.cumsum(np.log1p(up * (x - m)), axis=-1)
    log_down = np.cumsum(np.log1p(-down * (x - m)), axis=-1)
    # The larger of the two weighted bets: never above their sum, the hedged martingale.
    return np.maximum(np.log(THETA) + log_up, np.log(1 - THETA) + log_down)


def betting_cs(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the sequence for the mean of x in [0, 1] after each t = 1, 2, ...

    The capital is evaluated on a grid of candidate means; each edge is widened to the next
    rejected grid point, so the interval errs on the wide side.
    """
    x = np.asarray(x, dtype=float)
    grid = np.linspace(0.0, 1.0, GRID)
    kept = log_capital(np.broadcast_to(x, (GRID, x.size)), grid, alpha) < np.log(1 / alpha)
    low, high = np.zeros(x.size), np.ones(x.size)
    for t in range(x.size):
        inside = np.flatnonzero(kept[:, t])
        if inside.size:  # empty only if the data left [0, 1]
            low[t] = grid[max(inside[0] - 1, 0)]
            high[t] = grid[min(inside[-1] + 1, GRID - 1)]
    return low, high
