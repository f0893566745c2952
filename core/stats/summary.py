"""Statistics over repeated runs: selection rules, tables, paired tests, the primary endpoint.

Input is results.json's "runs" (see DESIGN.md, "Metrics and statistics"). Accuracy is stored as
a fraction; `curve_stats` and `select` keep it so, the tables and paired differences report %.
Missing splits, epochs or values (None, NaN, ±inf) are skipped and every `n` counts what remains.
`summarize` is the entry point; the parts live in core.stats.curves (bands, x axes),
core.stats.paired
(paired tests, d_z, Holm, pairing check), core.stats.equal_compute and core.stats.sequential.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from core.spec import ExperimentSpec, PrimarySpec
from core.stats.curves import BANDS, X_AXES, band, curve_stats
from core.stats.equal_compute import equal_compute
from core.stats.paired import SECONDARY, add_holm, paired_rows, pairing_check, values_of
from core.stats.records import Row, Run, group, num, series
from core.stats.records import check_choice as _check
from core.stats.sequential import arms_to_stop, sequential_rows

__all__ = ["BANDS", "X_AXES", "band", "curve_stats", "select", "summarize", "table_rows"]

RULES = ("val_loss", "final", "paper")
METRICS = ("loss", "accuracy")
# Report order: the honest selection set first, then the held-out set, then the fit.
SPLITS = ("val", "test", "train", "sample")
PAIRED_SPLITS = ("val", "test", "train")
_num, _group, _series = num, group, series


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
    """Every split at the epoch of lowest val loss, so train, val and test figures describe the
    same network; without a usable val loss, every split at its final epoch (a fallback)."""
    best_val = _first_best(series.get("val", []), "loss", lowest=True)
    picked: dict[str, dict[str, Any]] = {}
    for split, rows in series.items():
        if best_val is None:
            picked[split] = _entry(rows[-1], rows[-1], "final")
            continue
        at = [r for r in rows if int(r["epoch"]) == int(best_val["epoch"])]
        if at:  # a split measured only at other epochs has no figure here
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
    std = _num(np.std(data, ddof=ddof)) if data.size > ddof else None
    return _num(np.mean(data)), std, _num(np.median(data))


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
        pre_mean = _num(np.mean(pre)) if pre else None
        main_mean = _num(np.mean(main)) if main else None
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


def _family(
    picks: Mapping[str, Mapping[int, Any]],
    baseline: str,
    rule: str,
    excluded: frozenset[tuple[str, int]],
) -> list[dict[str, Any]]:
    """Every paired row one rule reports (split × metric × arm), Holm-adjusted as one family."""
    present = {split for by_repeat in picks.values() for c in by_repeat.values() for split in c}
    rows = []
    for split in (s for s in PAIRED_SPLITS if s in present):
        for metric in METRICS:
            values = {arm: values_of(by_repeat, split, metric) for arm, by_repeat in picks.items()}
            head = {"rule": rule, "split": split}
            rows += paired_rows(values, baseline, head, metric, excluded)
    return add_holm(rows)


def paired_comparison(
    runs: Iterable[Run],
    baseline: str,
    rule: str = "val_loss",
    split: str = "val",
    metric: str = "loss",
) -> list[dict[str, Any]]:
    """Each other arm minus `baseline`, paired by repeat: mean, 95% CI, p-values, d_z, win rate.

    p_holm here adjusts over this one comparison's arms; summarize adjusts over the whole rule.
    """
    _check(rule, RULES, "rule")
    _check(metric, METRICS, "metric")
    picks = _picks(_group(runs), rule)
    values = {arm: values_of(by_repeat, split, metric) for arm, by_repeat in picks.items()}
    return add_holm(paired_rows(values, baseline, {"rule": rule, "split": split}, metric))


def _is_primary(row: Mapping[str, Any], primary: PrimarySpec) -> bool:
    return (row["rule"], row["split"], row["metric"]) == (
        primary.rule,
        primary.split,
        primary.metric,
    )


def _primary(families: Mapping[str, list[dict[str, Any]]], primary: PrimarySpec) -> dict[str, Any]:
    """The pre-declared comparison's rows; every row gets its role (primary or secondary)."""
    for rows in families.values():
        for row in rows:
            row["role"] = "primary" if _is_primary(row, primary) else SECONDARY
    # summarize computes the primary's rule even where it was not asked for.
    chosen = [row for row in families[primary.rule] if row["role"] == "primary"]
    return {**primary.model_dump(), "rows": chosen}


def _family_note(paired: Mapping[str, list[dict[str, Any]]], primary: PrimarySpec) -> str:
    count = sum(row.get("role") != "primary" for rows in paired.values() for row in rows)
    return (
        f"primary: {primary.split} {primary.metric} under rule {primary.rule}, declared before"
        f" the runs; the other {count} paired comparisons over {len(paired)} rule(s) are"
        " secondary, their p Holm-adjusted within each rule"
    )


def summarize(
    runs: Iterable[Run],
    baseline: str | None = None,
    rules: Sequence[str] = RULES,
    *,
    spec: ExperimentSpec | None = None,
) -> dict[str, Any]:
    """results.json's "summary": tables per rule, paired comparisons (primary first in meaning,
    secondary Holm-adjusted), the primary's confidence sequence, equal compute, preprocessing.

    `spec` supplies the primary comparison, alpha, min_repeats, the planned repeats (where the
    sequence is tightest) and each arm's init scheme for the pairing check; without it the
    defaults apply and an arm's scheme is read from its runs' `init` (default pytorch).
    """
    runs = list(runs)
    for rule in rules:
        _check(rule, RULES, "rule")
    primary = spec.primary if spec is not None else PrimarySpec()
    groups = _group(runs)
    arms = list(groups)
    baseline = baseline if baseline is not None else (arms[0] if arms else None)
    picks = {rule: _picks(groups, rule) for rule in {*rules, primary.rule}}
    tables = {rule: _table_rows(picks[rule], rule) for rule in rules}
    notes = _notes(tables)
    summary: dict[str, Any] = {"baseline": baseline, "arms": arms, "rules": list(rules)}
    summary |= {"primary": None, "sequential": [], "tables": tables}
    summary |= {"paired": {rule: [] for rule in rules}, "equal_compute": None}
    if baseline in arms:
        excluded, pairing_notes = pairing_check(groups, baseline, _inits(spec))
        families = {rule: _family(picks[rule], baseline, rule, excluded) for rule in picks}
        summary["primary"] = _primary(families, primary)
        summary["paired"] = {rule: families[rule] for rule in rules}
        summary["sequential"] = _done_sequential(groups, baseline, spec)
        summary["equal_compute"], compute_notes = equal_compute(groups, baseline, excluded)
        notes = [_family_note(summary["paired"], primary), *notes, *pairing_notes]
        notes += compute_notes + _optional_stopping(summary, spec)
    elif arms:
        notes.append(f"baseline {baseline!r} has no runs; arms: {', '.join(arms)}")
    summary |= {"preprocessing": preprocessing_share(runs), "notes": notes}
    return dict(_json_safe(summary))


OPTIONAL_STOPPING = (
    "stopped when decided (stop_when_decided) for {arms}: the number of pairs depended on the"
    " data, so their fixed-n figures (p, t-test CI, d_z, Holm p, win rate) are biased by optional"
    " stopping (effects overstated, intervals cover less than 95%); read the primary's"
    " confidence sequence, which stays valid"
)


def _optional_stopping(summary: dict[str, Any], spec: ExperimentSpec | None) -> list[str]:
    """Mark every paired row of an arm whose runs stop_when_decided stopped (optional_stopping:
    true) and say why; none where the runs went on to the planned repeats."""
    if spec is None or not spec.stop_when_decided:
        return []
    rows = summary["sequential"]
    stopped = set(arms_to_stop(rows, spec.stop_when_decided, [arm.name for arm in spec.arms]))
    stopped &= {row["arm"] for row in rows if row["n"] < spec.repeats}
    if not stopped:
        return []
    families = [*summary["paired"].values(), summary["primary"]["rows"]]
    for row in [*(r for rows in families for r in rows), *summary["equal_compute"]["rows"]]:
        row["optional_stopping"] = row["arm"] in stopped
    return [OPTIONAL_STOPPING.format(arms=", ".join(sorted(stopped)))]


def _protocol(spec: ExperimentSpec | None) -> dict[str, Any]:
    """alpha, min_repeats and n_opt (the planned repeats) of the spec, or the spec defaults."""
    fields = ExperimentSpec.model_fields
    if spec is None:
        return {
            "alpha": fields["alpha"].default,
            "min_repeats": fields["min_repeats"].default,
            "n_opt": max(2, fields["repeats"].default),
        }
    return {"alpha": spec.alpha, "min_repeats": spec.min_repeats, "n_opt": max(2, spec.repeats)}


def _inits(spec: ExperimentSpec | None) -> dict[str, str]:
    """arm -> init scheme the spec declares (every arm has one, default pytorch); without a spec
    none, and each run record's `init` decides."""
    return {arm.name: arm.init for arm in spec.arms} if spec else {}


def _compared(spec: ExperimentSpec | None, baseline: str, arms: Iterable[str]) -> list[str]:
    """The arms the primary compares with the baseline: the spec's (fixed before any run)."""
    names = [arm.name for arm in spec.arms] if spec is not None else list(arms)
    return [name for name in names if name != baseline]


def _done_sequential(
    groups: Mapping[str, Mapping[int, Run]],
    baseline: str,
    spec: ExperimentSpec | None,
) -> list[dict[str, Any]]:
    """summary.sequential: the primary's sequences over finished runs only, so the live summary,
    the final one and the stop check (primary_sequence) read the same rows the same way."""
    done = {
        arm: {r: run for r, run in reps.items() if run.get("status", "done") == "done"}
        for arm, reps in groups.items()
    }
    excluded, _ = pairing_check(done, baseline, _inits(spec))
    primary = spec.primary if spec is not None else PrimarySpec()
    picks = _picks(done, primary.rule)
    values = {
        arm: values_of(by_repeat, primary.split, primary.metric)
        for arm, by_repeat in picks.items()
    }
    return sequential_rows(
        values, baseline, primary.model_dump(), arms=_compared(spec, baseline, groups),
        excluded=excluded, **_protocol(spec),
    )  # fmt: skip


def primary_sequence(runs: Iterable[Run], spec: ExperimentSpec) -> list[dict[str, Any]]:
    """summary.sequential alone (the primary's confidence sequence per arm), from finished runs."""
    assert spec.baseline is not None
    groups = _group(runs)
    return list(_json_safe(_done_sequential(groups, spec.baseline, spec)))
