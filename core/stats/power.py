"""Power of the paired t-test: what a number of paired repeats can detect.

Two-sided paired t-test at level `alpha`, effect d_z = mean difference / s.d. of differences,
exact power from the noncentral t distribution (as G*Power computes it). Run as
`python -m core.stats.power DIR...` on results folders for the sample-size table of a report.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from scipy import optimize
from scipy import stats as sps

from core.results_file import read_results
from core.stats.summary import paired_comparison

MAX_N = 100_000


def power(d_z: float, n: int, alpha: float = 0.05) -> float:
    """Probability that a two-sided paired t-test on n pairs rejects when the effect is d_z."""
    if n < 2:
        return 0.0
    df = n - 1
    critical = sps.t.ppf(1 - alpha / 2, df)
    shift = abs(d_z) * math.sqrt(n)
    value = float(sps.nct.sf(critical, df, shift) + sps.nct.cdf(-critical, df, shift))
    # scipy's noncentral t gives NaN far in the tail; there the power is 0 or 1.
    return value if math.isfinite(value) else float(shift > critical)


def detectable_dz(n: int, alpha: float = 0.05, target: float = 0.8) -> float:
    """The smallest |d_z| that n pairs detect with probability `target`."""
    if n < 2:
        return math.inf
    return float(optimize.brentq(lambda d: power(d, n, alpha) - target, 1e-9, 100.0))


def pairs_needed(d_z: float, alpha: float = 0.05, target: float = 0.8) -> int | None:
    """The fewest pairs that detect d_z with probability `target` (None: more than MAX_N)."""
    if d_z == 0:
        return None
    low, high = 2, 2
    while power(d_z, high, alpha) < target:
        if high >= MAX_N:
            return None
        low, high = high, min(2 * high, MAX_N)
    while low < high:  # power grows with n: bisect for the first n that reaches the target
        mid = (low + high) // 2
        low, high = (mid + 1, high) if power(d_z, mid, alpha) < target else (low, mid)
    return high


def sd_of_differences(row: dict[str, Any]) -> float | None:
    """The s.d. of the paired differences behind a paired row's 95% CI."""
    n, low, high = row["n"], row.get("ci95_low"), row.get("ci95_high")
    if n < 2 or low is None or high is None:
        return None
    return float((high - low) / 2 * math.sqrt(n) / sps.t.ppf(0.975, n - 1))


def sample_size_rows(
    path: Path, rule: str = "val_loss", split: str = "val", metric: str = "loss", at: int = 40
) -> list[dict[str, Any]]:
    """Per arm: the observed paired effect, and the differences n and `at` pairs detect."""
    results = read_results(path)
    spec = results["spec"]
    rows = []
    for row in paired_comparison(results["runs"], spec["baseline"], rule, split, metric):
        sd = sd_of_differences(row)
        if sd is None or row["mean_diff"] is None:
            continue
        d_z = row["mean_diff"] / sd if sd > 0 else math.inf
        rows.append(
            {
                "experiment": spec["name"],
                "arm": row["arm"],
                "what": f"{split} {metric} ({rule})",
                "n": row["n"],
                "mean_diff": row["mean_diff"],
                "sd_diff": sd,
                "d_z": d_z,
                "detectable_here": detectable_dz(row["n"]) * sd,
                f"detectable_at_{at}": detectable_dz(at) * sd,
                "pairs_for_observed": pairs_needed(d_z),
            }
        )
    return rows


def main(paths: list[str]) -> int:
    """Print the sample-size table as Markdown: val loss (val_loss rule), test accuracy (final).

    The test set of the authors' files was measured once, after the last epoch, so only the
    `final` rule has a test figure for every run.
    """
    print(
        "| Experiment | Arm | Figure | n | Mean diff | s.d. of diffs | d_z |"
        " Detectable at n (80%) | Detectable at n = 40 (80%) | Pairs for observed d_z |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        for rule, split, metric in (("val_loss", "val", "loss"), ("final", "test", "accuracy")):
            for r in sample_size_rows(Path(path), rule, split, metric):
                needed = "—" if r["pairs_for_observed"] is None else str(r["pairs_for_observed"])
                print(
                    f"| {r['experiment']} | {r['arm']} | {r['what']} | {r['n']}"
                    f" | {r['mean_diff']:.3f} | {r['sd_diff']:.3f} | {r['d_z']:.2f}"
                    f" | {r['detectable_here']:.3f}"
                    f" | {r['detectable_at_40']:.3f} | {needed} |"
                )
    print("\nAccuracy in percentage points; loss in nats. Two-sided paired t-test, α = 0.05.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
