"""Statistics over repeated runs: curves with bands, selection rules, tables, paired tests.

Input is results.json's "runs" (see DESIGN.md, "Metrics and statistics"). Accuracy is stored as
a fraction; `curve_stats` and `select` keep it so, the tables and paired differences report %.
Missing splits, epochs or values (None, NaN, ±inf) are skipped and every `n` counts what remains.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

Run = Mapping[str, Any]
Row = Mapping[str, Any]

RULES = ("val_loss", "final", "paper")
METRICS = ("loss", "accuracy")
BANDS = ("iqr", "p10p90", "minmax", "std", "ci95")
# Report order: the honest selection set first, then the held-out set, then the fit.
SPLITS = ("val", "test", "train", "sample")
PAIRED_SPLITS = ("val", "test", "train")


def _check(value: str, valid: Sequence[str], what: str) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(valid)}")


def _num(value: Any) -> float | None:
    """A finite float, or None for anything missing or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _f(value: Any) -> float | None:
    """A numpy scalar as a JSON-safe float (None when not finite)."""
    return None if value is None else _num(value)


def _group(runs: Iterable[Run]) -> dict[str, dict[int, Run]]:
    """Runs by arm (first-appearance order) then repeat; a later duplicate replaces an earlier."""
    groups: dict[str, dict[int, Run]] = {}
    for run in runs:
        groups.setdefault(str(run["arm"]), {})[int(run["repeat"])] = run
    return {arm: dict(sorted(reps.items())) for arm, reps in groups.items()}


def _series(run: Run, phase: str) -> dict[str, list[Row]]:
    """One phase's rows per split, sorted by epoch; a re-recorded epoch keeps its last row."""
    by_split: dict[str, dict[int, Row]] = {}
    for row in run.get("metrics") or []:
        if row.get("phase") == phase and row.get("epoch") is not None:
            by_split.setdefault(str(row.get("split")), {})[int(row["epoch"])] = row
    return {split: [rows[e] for e in sorted(rows)] for split, rows in by_split.items()}


def _first_best(rows: Sequence[Row], metric: str, lowest: bool) -> Row | None:
    """The first row with the lowest (or highest) value, as numpy's argmin/argmax pick."""
    best: Row | None = None
    best_value = 0.0
    for row in rows:
        value = _num(row.get(metric))
        if value is not None and (
            best is None or (value < best_value if lowest else value > best_value)
        ):
            best, best_value = row, value
    return best


def _entry(loss_row: Row | None, acc_row: Row | None, selected_by: str) -> dict[str, Any]:
    loss_epoch = int(loss_row["epoch"]) if loss_row is not None else None
    return {
        "loss": _num(loss_row.get("loss")) if loss_row is not None else None,
        "accuracy": _num(acc_row.get("accuracy")) if acc_row is not None else None,
        "epoch": loss_epoch,
        "loss_epoch": loss_epoch,
        "accuracy_epoch": int(acc_row["epoch"]) if acc_row is not None else None,
        "selected_by": selected_by,
    }


def _select_val_loss(series: dict[str, list[Row]]) -> dict[str, dict[str, Any]]:
    best_val = _first_best(series.get("val", []), "loss", lowest=True)
    picked: dict[str, dict[str, Any]] = {}
    for split, rows in series.items():
        if split not in ("val", "test"):
            row = _first_best(rows, "loss", lowest=True)
            if row is not None:
                picked[split] = _entry(row, row, "val_loss")
        elif best_val is None:  # no usable val split: fall back to the final epoch
            picked[split] = _entry(rows[-1], rows[-1], "final")
        else:
            at = [r for r in rows if int(r["epoch"]) == int(best_val["epoch"])]
            if at:  # a test measured only at other epochs has no figure here
                picked[split] = _entry(at[0], at[0], "val_loss")
    return picked


def select(run: Run, rule: str = "val_loss") -> dict[str, dict[str, Any]]:
    """The main-phase figures one run reports per split under `rule` (accuracy as a fraction)."""
    _check(rule, RULES, "rule")
    series = {split: rows for split, rows in _series(run, "main").items() if rows}
    if rule == "val_loss":
        return _select_val_loss(series)
    if rule == "final":
        return {split: _entry(rows[-1], rows[-1], "final") for split, rows in series.items()}
    picked = {}
    for split, rows in series.items():
        if split == "test":  # the paper measured its test set once, after training
            picked[split] = _entry(rows[-1], rows[-1], "paper")
        else:  # plot.py: min loss and, independently, max accuracy over epochs
            loss_row = _first_best(rows, "loss", lowest=True)
            acc_row = _first_best(rows, "accuracy", lowest=False)
            picked[split] = _entry(loss_row, acc_row, "paper")
    return picked


def _describe(values: Sequence[float | None], ddof: int) -> tuple[Any, Any, Any]:
    """(mean, std, median) of the present values; std None where ddof leaves no freedom."""
    data = np.array([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return None, None, None
    std = _f(np.std(data, ddof=ddof)) if data.size > ddof else None
    return _f(np.mean(data)), std, _f(np.median(data))


def _table_row(arm: str, split: str, rule: str, picks: list[dict[str, Any]]) -> dict[str, Any]:
    ddof = 0 if rule == "paper" else 1  # plot.py uses np.std's default
    loss = _describe([p["loss"] for p in picks], ddof)
    acc = _describe([None if p["accuracy"] is None else 100 * p["accuracy"] for p in picks], ddof)
    epoch = _describe([p["epoch"] for p in picks], ddof)
    return {
        "rule": rule,
        "arm": arm,
        "split": split,
        "n": len(picks),
        "n_fallback": sum(p["selected_by"] != rule for p in picks),
        "loss_mean": loss[0],
        "loss_std": loss[1],
        "loss_median": loss[2],
        "acc_mean": acc[0],
        "acc_std": acc[1],
        "acc_median": acc[2],
        "epoch_mean": epoch[0],
        "epoch_std": epoch[1],
        "epoch_median": epoch[2],
    }


def _picks(groups: Mapping[str, Mapping[int, Run]], rule: str) -> dict[str, dict[int, Any]]:
    """arm -> repeat -> select(run, rule), computed once per rule."""
    return {arm: {r: select(run, rule) for r, run in reps.items()} for arm, reps in groups.items()}


def _table_rows(picks: Mapping[str, Mapping[int, Any]], rule: str) -> list[dict[str, Any]]:
    rows = []
    for arm, by_repeat in picks.items():
        chosen = list(by_repeat.values())
        for split in _ordered_splits({s for c in chosen for s in c}):
            rows.append(_table_row(arm, split, rule, [c[split] for c in chosen if split in c]))
    return rows


def table_rows(runs: Iterable[Run], rule: str = "val_loss") -> list[dict[str, Any]]:
    """Tables I–V: per arm and split, mean/std/median of loss and accuracy (%), mean epoch."""
    _check(rule, RULES, "rule")
    return _table_rows(_picks(_group(runs), rule), rule)


def _ordered_splits(present: Iterable[str]) -> list[str]:
    present = set(present)
    return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))


def _curve_row(epoch: int, data: np.ndarray) -> dict[str, Any]:
    n = int(data.size)
    p10, p25, p50, p75, p90 = np.percentile(data, [10, 25, 50, 75, 90])
    mean = float(np.mean(data))
    std = float(np.std(data, ddof=1)) if n > 1 else None
    half = float(sps.t.ppf(0.975, n - 1)) * std / math.sqrt(n) if std is not None else None
    return {
        "epoch": epoch,
        "n": n,
        "median": float(p50),
        "p25": float(p25),
        "p75": float(p75),
        "p10": float(p10),
        "p90": float(p90),
        "min": float(np.min(data)),
        "max": float(np.max(data)),
        "mean": mean,
        "std": std,
        "ci95_low": None if half is None else mean - half,
        "ci95_high": None if half is None else mean + half,
    }


def curve_stats(
    runs: Iterable[Run], arm: str, phase: str = "main", split: str = "val", metric: str = "loss"
) -> list[dict[str, Any]]:
    """Per epoch over an arm's repeats: n, median, percentiles, min, max, mean, std, 95% CI."""
    by_epoch: dict[int, list[float]] = {}
    for run in _group(runs).get(arm, {}).values():
        for row in _series(run, phase).get(split, []):
            value = _num(row.get(metric))
            if value is not None:
                by_epoch.setdefault(int(row["epoch"]), []).append(value)
    return [_curve_row(e, np.array(v)) for e, v in sorted(by_epoch.items())]


def band(stats_row: Mapping[str, Any], kind: str = "iqr") -> tuple[float | None, float | None]:
    """The (low, high) edges of a curve_stats row's band; undefined spreads collapse to the mean."""
    _check(kind, BANDS, "band")
    if kind in ("iqr", "p10p90", "minmax"):
        low, high = {"iqr": ("p25", "p75"), "p10p90": ("p10", "p90"), "minmax": ("min", "max")}[
            kind
        ]
        return stats_row[low], stats_row[high]
    mean = stats_row["mean"]
    if kind == "ci95" and stats_row.get("ci95_low") is not None:
        return stats_row["ci95_low"], stats_row["ci95_high"]
    std = stats_row.get("std")
    if kind == "std" and std is not None:
        return mean - std, mean + std
    return mean, mean


def _values(by_repeat: Mapping[int, Any], split: str, metric: str) -> dict[int, float]:
    """repeat -> the selected figure (accuracy in %), for runs that have one."""
    values = {}
    for repeat, picked in by_repeat.items():
        value = picked.get(split, {}).get(metric)
        if value is not None:
            values[repeat] = 100 * value if metric == "accuracy" else value
    return values


def _p_value(test: Any, *args: Any) -> float | None:
    """A scipy test's p-value, or None where the test is undefined for these data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _f(test(*args).pvalue)
        except ValueError:
            return None


def _paired_stats(arm: np.ndarray, base: np.ndarray, metric: str) -> dict[str, Any]:
    diff = arm - base
    n = int(diff.size)
    out: dict[str, Any] = {"n": n, "mean_diff": None, "ci95_low": None, "ci95_high": None}
    out.update({"t_p": None, "wilcoxon_p": None, "win_rate": None})
    if n == 0:
        return out
    better = diff < 0 if metric == "loss" else diff > 0
    out.update({"mean_diff": _f(np.mean(diff)), "win_rate": _f(np.mean(better))})
    if n < 2:
        return out
    half = sps.t.ppf(0.975, n - 1) * np.std(diff, ddof=1) / math.sqrt(n)
    out.update({"ci95_low": _f(np.mean(diff) - half), "ci95_high": _f(np.mean(diff) + half)})
    out["t_p"] = _p_value(sps.ttest_rel, arm, base)
    if np.any(diff != 0):
        out["wilcoxon_p"] = _p_value(sps.wilcoxon, arm, base)
    return out


def _paired_rows(
    picks: Mapping[str, Mapping[int, Any]], baseline: str, rule: str, split: str, metric: str
) -> list[dict[str, Any]]:
    base = _values(picks.get(baseline, {}), split, metric)
    rows = []
    for arm, by_repeat in picks.items():
        if arm == baseline:
            continue
        values = _values(by_repeat, split, metric)
        repeats = sorted(set(base) & set(values))
        stats = _paired_stats(
            np.array([values[r] for r in repeats], dtype=float),
            np.array([base[r] for r in repeats], dtype=float),
            metric,
        )
        head = {"arm": arm, "baseline": baseline, "rule": rule, "split": split, "metric": metric}
        rows.append({**head, **stats, "repeats": repeats})
    return rows


def paired_comparison(
    runs: Iterable[Run],
    baseline: str,
    rule: str = "val_loss",
    split: str = "val",
    metric: str = "loss",
) -> list[dict[str, Any]]:
    """Each other arm minus `baseline`, paired by repeat: mean, 95% CI, t/Wilcoxon p, win rate."""
    _check(rule, RULES, "rule")
    _check(metric, METRICS, "metric")
    return _paired_rows(_picks(_group(runs), rule), baseline, rule, split, metric)


def preprocessing_share(runs: Iterable[Run]) -> dict[str, dict[str, Any]]:
    """Per arm, over finished runs: mean preprocessing and main seconds, and their ratio."""
    shares = {}
    for arm, reps in _group(runs).items():
        pre, main = [], []
        for run in reps.values():
            wall = run.get("wall_seconds") or {}
            p, m = _num(wall.get("preprocess")), _num(wall.get("main"))
            # Unfinished runs have partial main times; they would inflate the share.
            if run.get("status", "done") == "done" and p is not None and m is not None:
                pre.append(p)
                main.append(m)
        pre_mean = _f(np.mean(pre)) if pre else None
        main_mean = _f(np.mean(main)) if main else None
        share = pre_mean / main_mean if pre_mean is not None and main_mean else None
        shares[arm] = {
            "n": len(pre),
            "preprocess_seconds_mean": pre_mean,
            "main_seconds_mean": main_mean,
            "share": share,
        }
    return shares


def _json_safe(value: Any) -> Any:
    """Plain JSON data: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, float | np.floating):
        return _num(value)
    return value


def _notes(tables: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    notes = []
    for rule, rows in tables.items():
        for row in rows:
            if row["n_fallback"]:
                notes.append(
                    f"{rule}: {row['n_fallback']} of {row['n']} {row['arm']} run(s) have no val"
                    f" loss; their {row['split']} figures are the final epoch's"
                )
    if "paper" in tables:
        notes.append(
            "paper: the paper's arithmetic — optimistic: picks the accuracy epoch on the"
            " reported set; std is the population std (ddof=0)"
        )
    return notes


def summarize(
    runs: Iterable[Run], baseline: str | None = None, rules: Sequence[str] = RULES
) -> dict[str, Any]:
    """results.json's "summary": tables per rule, paired comparisons, preprocessing share."""
    runs = list(runs)
    for rule in rules:
        _check(rule, RULES, "rule")
    groups = _group(runs)
    arms = list(groups)
    baseline = baseline if baseline is not None else (arms[0] if arms else None)
    picks = {rule: _picks(groups, rule) for rule in rules}
    tables = {rule: _table_rows(picks[rule], rule) for rule in rules}
    paired: dict[str, list[dict[str, Any]]] = {rule: [] for rule in rules}
    notes = _notes(tables)
    if baseline in arms:
        for rule in rules:
            present = {row["split"] for row in tables[rule]}
            for split in (s for s in PAIRED_SPLITS if s in present):
                for metric in METRICS:
                    paired[rule] += _paired_rows(picks[rule], baseline, rule, split, metric)
    elif arms:
        notes.append(f"baseline {baseline!r} has no runs; arms: {', '.join(arms)}")
    summary = {
        "baseline": baseline,
        "arms": arms,
        "rules": list(rules),
        "tables": tables,
        "paired": paired,
        "preprocessing": preprocessing_share(runs),
        "notes": notes,
    }
    return dict(_json_safe(summary))
