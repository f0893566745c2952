"""The anytime-valid confidence sequence: published boundary values, its closed form, and its
error rate under continuous monitoring against a t-test repeated after every repeat."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from core.spec import parse_spec
from core.stats import summary as stats
from core.stats.sequential import (
    best_rho,
    effect_prior,
    normal_mixture_bound,
    normal_mixture_log_mg,
    sequence,
    t_mixture_cs,
)
from core.training.stopping import decided_arms, stop_reason
from tests.core.run_records import record

ALPHA = 0.05


def test_normal_mixture_matches_published_values() -> None:
    """confseq's unit test (Howard et al.'s reference R implementation): v_opt 100, alpha .05."""
    rho = best_rho(100, 0.05)
    assert rho == pytest.approx(12.60056, abs=1e-5)
    assert normal_mixture_log_mg(10, 100, rho) == pytest.approx(-0.6510052, abs=1e-6)
    assert normal_mixture_bound(100, 0.05, rho) == pytest.approx(30.35209, abs=1e-5)


def _e_value(d: np.ndarray, mu: float, g: float) -> float:
    """E_n(mu) straight from its definition (mixture over mu / sigma, right-Haar over sigma)."""
    n, y = d.size, d - mu
    ratio = np.sum(y**2) / (np.sum(y**2) - g * np.sum(y) ** 2 / (1 + n * g))
    return float((1 + n * g) ** -0.5 * ratio ** (n / 2))


def test_sequence_edges_are_where_the_e_process_reaches_one_over_alpha() -> None:
    d = np.array([-0.8, -1.1, -0.2, -0.9, -1.4, -0.6])
    g = effect_prior(6, ALPHA)
    mean, low, high = t_mixture_cs(d, ALPHA, g)
    assert mean[-1] == pytest.approx(d.mean())
    for edge in (low[-1], high[-1]):
        assert _e_value(d, edge, g) == pytest.approx(1 / ALPHA, rel=1e-9)
    assert _e_value(d, mean[-1], g) < 1 / ALPHA
    assert np.all(np.isinf(high[:2]))  # 1-2 pairs cannot exclude anything at this g


def test_large_n_approaches_the_normal_mixture_boundary_with_known_sigma() -> None:
    n, sigma = 4000, 0.7
    z = np.random.default_rng(1).standard_normal(n)
    d = 0.3 + sigma * (z - z.mean()) / z.std()  # sample s.d. exactly sigma
    g = effect_prior(50, ALPHA)
    mean, low, high = t_mixture_cs(d, ALPHA, g)
    known = normal_mixture_bound(n * sigma**2, ALPHA, sigma**2 / g) / n
    assert (high[-1] - mean[-1]) == pytest.approx(known, rel=2e-3)


def test_sequence_decides_by_metric_direction() -> None:
    assert sequence([-1.0, -1.1, -0.9, -1.05, -0.95], "loss", ALPHA, 5)["decided"] == "better"
    down = sequence([-1.0, -1.1, -0.9, -1.05, -0.95], "accuracy", ALPHA, 5, "t_mixture")
    assert down["decided"] == "worse"
    assert sequence([1.0, -1.0, 0.5, -0.4, 0.1], "loss", ALPHA, 5)["decided"] == "undecided"
    empty = sequence([], "loss", ALPHA, 5)
    assert (empty["n"], empty["decided"], empty["path"]) == (0, "undecided", [])


def test_continuous_monitoring_keeps_alpha_where_a_repeated_t_test_does_not() -> None:
    """2,000 experiments of 20 repeats, looked at after every repeat from the second on."""
    rng = np.random.default_rng(2026)
    experiments, repeats = 2000, 20
    null = rng.standard_normal((experiments, repeats))
    _, low, high = t_mixture_cs(null, ALPHA, effect_prior(repeats, ALPHA))
    sequence_rate = np.mean(np.any((low > 0) | (high < 0), axis=1))
    n = np.arange(1, repeats + 1)
    mean = np.cumsum(null, axis=1) / n
    sd = np.sqrt((np.cumsum(null**2, axis=1) - n * mean**2)[:, 1:] / (n[1:] - 1))
    t = mean[:, 1:] / (sd / np.sqrt(n[1:]))
    p = 2 * sps.t.sf(np.abs(t), n[1:] - 1)
    peeking_rate = np.mean(np.any(p < ALPHA, axis=1))
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / experiments)  # three standard errors
    assert sequence_rate <= ALPHA + slack
    assert peeking_rate > ALPHA + slack
    effect = rng.standard_normal((experiments, repeats)) - 1.5  # d_z = -1.5: a clear gain
    _, low, high = t_mixture_cs(effect, ALPHA, effect_prior(repeats, ALPHA))
    assert np.mean(high[:, -1] < 0) > 0.95
    assert np.mean(low[:, -1] > 0) == 0


def test_summary_sequential_per_arm_with_min_repeats_and_bonferroni() -> None:
    base = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    runs = [record("original", r, [2.0, v]) for r, v in enumerate(base)]
    runs += [record("smart", r, [2.0, v - 0.3 - 0.01 * r]) for r, v in enumerate(base)]
    runs += [record("noise", r, [2.0, v + (-0.1) ** r]) for r, v in enumerate(base)]
    rows = {row["arm"]: row for row in stats.summarize(runs, "original")["sequential"]}
    smart, noise = rows["smart"], rows["noise"]
    assert smart["decided"] == "better" and smart["stop"] and smart["n"] == 6
    assert smart["alpha"] == ALPHA and smart["alpha_arm"] == ALPHA / 2
    assert smart["cs_high"] < 0 < smart["cs_low"] + 1
    assert noise["decided"] == "undecided" and not noise["stop"]
    assert [p["n"] for p in smart["path"]] == list(range(1, 7))
    assert smart["path"][0]["cs_low"] is None  # one pair: unbounded, None in JSON
    diffs = [b - 0.3 - 0.01 * r - b for r, b in enumerate(base)]
    assert smart["mean_diff"] == pytest.approx(np.mean(diffs))
    spec = parse_spec({
        "name": "s", "model": "small_cnn", "dataset": {"name": "digits"}, "repeats": 6,
        "arms": [{"name": n, "method": "original"} for n in ("original", "smart", "noise")],
        "min_repeats": 7,
    })
    later = stats.summarize(runs, "original", spec=spec)["sequential"][0]
    assert later["decided"] == "better" and not later["stop"]  # fewer pairs than min_repeats


def test_the_reported_sequence_is_the_running_intersection_and_never_reverts() -> None:
    """An outlying pair widens that n's own interval; the reported one keeps what it excluded."""
    diffs = [-0.30, -0.28, -0.33, -0.29, -0.31, -0.30, -0.32, 0.9]
    seq = sequence(diffs, "loss", ALPHA, 8)
    path = seq["path"]
    last = path[-1]
    assert last["n_high"] > 0 > last["cs_high"]  # n = 8 alone would include 0 again
    assert seq["decided"] == "better"
    lows = [p["cs_low"] if p["cs_low"] is not None else -math.inf for p in path]
    highs = [p["cs_high"] if p["cs_high"] is not None else math.inf for p in path]
    assert lows == sorted(lows) and highs == sorted(highs, reverse=True)
    rng = np.random.default_rng(5)
    for d in rng.standard_normal((50, 15)):
        path = sequence(list(d), "loss", ALPHA, 15)["path"]
        assert all(
            (a["cs_low"] or -math.inf) <= (b["cs_low"] or -math.inf)
            and (a["cs_high"] or math.inf) >= (b["cs_high"] or math.inf)
            for a, b in zip(path, path[1:], strict=False)
        )


def test_constant_differences_are_degenerate_and_never_decide() -> None:
    arm, base = np.array([0.8, 0.9, 1.0, 1.1] * 2), np.array([1.0, 1.1, 1.2, 1.3] * 2)
    seq = sequence(list(arm - base), "loss", ALPHA, 8)  # -0.2 up to rounding
    assert seq["degenerate"] and seq["decided"] == "undecided" and seq["cs_low"] is None
    assert not sequence([-0.2] * 7 + [-0.21], "loss", ALPHA, 8)["degenerate"]


def test_an_arm_without_runs_still_counts_and_the_experiment_never_stops() -> None:
    """Bonferroni's k is the spec's: three arms, 8 clear pairs for one, none for the other."""
    base = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.0, 1.1]
    runs = [record("original", r, [2.0, v]) for r, v in enumerate(base)]
    runs += [record("warm", r, [2.0, v - 0.3 - 0.01 * r]) for r, v in enumerate(base)]
    spec = parse_spec({
        "name": "s", "model": "small_cnn", "dataset": {"name": "digits"}, "repeats": 16,
        "arms": [{"name": n, "method": "original"} for n in ("original", "warm", "smart")],
        "stop_when_decided": True, "min_repeats": 5,
    })
    rows = {row["arm"]: row for row in stats.summarize(runs, "original", spec=spec)["sequential"]}
    assert rows["warm"]["alpha_arm"] == ALPHA / 2 and rows["warm"]["arms_compared"] == 2
    assert rows["warm"]["stop"] and rows["smart"]["n"] == 0 and not rows["smart"]["stop"]
    assert stop_reason(spec, runs) is None and decided_arms(spec, runs) == {}
    by_arm = decided_arms(spec.model_copy(update={"stop_when_decided": "arm"}), runs)
    assert list(by_arm) == ["warm"] and by_arm["warm"].startswith("decided: ")


def test_primary_on_the_test_split_reads_the_val_selected_epoch_in_stop_check_and_summary() -> None:
    """The old service read only the primary's split, so val_loss fell back to the last epoch."""
    base = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    # Both arms' val loss is lowest at epoch 2; at epoch 3 "late" is far better, at 2 it is not.
    runs = [record("original", r, [2.0, v, v + 0.5]) for r, v in enumerate(base)]
    runs += [
        record("late", r, [2.0, v + 0.01 * (-1) ** r, v - 0.02 * r]) for r, v in enumerate(base)
    ]
    spec = parse_spec({
        "name": "s", "model": "small_cnn", "dataset": {"name": "digits"}, "repeats": 6,
        "arms": [{"name": n, "method": "original"} for n in ("original", "late")],
        "primary": {"split": "test", "rule": "val_loss"}, "stop_when_decided": True,
        "min_repeats": 5,
    })
    live = [*runs, {**record("late", 6, [2.0]), "status": "running"}]
    summary = stats.summarize(live, "original", spec=spec)["sequential"]
    assert stats.primary_sequence(runs, spec) == summary
    assert summary[0]["decided"] == "undecided" and stop_reason(spec, runs) is None
    test_only = [
        {**run, "metrics": [m for m in run["metrics"] if m["split"] == "test"]} for run in runs
    ]
    assert stats.primary_sequence(test_only, spec)[0]["decided"] == "better"  # the old misread


def test_fixed_n_figures_of_an_early_stopped_arm_are_labelled_biased() -> None:
    base = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    runs = [record("original", r, [2.0, v]) for r, v in enumerate(base)]
    runs += [record("warm", r, [2.0, v - 0.3 - 0.01 * r]) for r, v in enumerate(base)]
    runs += [record("same", r, [2.0, v + 0.1 * (-1) ** r]) for r, v in enumerate(base)]
    body = {
        "name": "s", "model": "small_cnn", "dataset": {"name": "digits"}, "repeats": 12,
        "arms": [{"name": n, "method": "original"} for n in ("original", "warm", "same")],
        "min_repeats": 5,
    }
    by_arm = parse_spec(body | {"stop_when_decided": "arm"})
    summary = stats.summarize(runs, "original", spec=by_arm)
    flags = {(r["arm"], r["split"], r["metric"]): r["optional_stopping"]
             for r in summary["paired"]["val_loss"]}  # fmt: skip
    assert flags[("warm", "val", "loss")] and flags[("warm", "test", "accuracy")]
    assert not flags[("same", "val", "loss")]
    assert any(n.startswith("stopped when decided (stop_when_decided) for warm:")
               for n in summary["notes"])  # fmt: skip
    # Not stopped (all arms must decide, `same` has not): nothing is labelled.
    plain = stats.summarize(runs, "original", spec=parse_spec(body | {"stop_when_decided": True}))
    assert all("optional_stopping" not in r for r in plain["paired"]["val_loss"])
