"""Equal-compute comparison: each arm against the baseline at the same examples trained on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.stats.paired import add_holm, paired_rows
from core.stats.records import Row, Run, num, series

COMPARES = (
    "Equal compute: whichever of arm and baseline trained on more examples (all phases included:"
    " stages, preprocessing, main) is read at the other's final total, its loss and accuracy"
    " interpolated linearly between the two main epochs that bracket that total, against the"
    " other's final epoch; both totals are shown (they differ only where an arm's pre-training"
    " alone exceeds the baseline's budget: then its first main epoch). No selection rule; arm"
    " minus baseline, paired by repeat."
)
SPLITS = ("val", "test", "train")
METRICS = ("loss", "accuracy")


def _epochs(run: Run) -> dict[int, dict[str, Row]]:
    """Main epoch -> split -> row, for epochs that carry examples_total."""
    out: dict[int, dict[str, Row]] = {}
    for split, rows in series(run, "main").items():
        for row in rows:
            if num(row.get("examples_total")) is not None:
                out.setdefault(int(row["epoch"]), {})[split] = row
    return dict(sorted(out.items()))


def _total(rows: Mapping[str, Row]) -> float:
    return max(float(num(r.get("examples_total")) or 0) for r in rows.values())


Point = tuple[float, float, dict[str, Row]]  # (epoch, examples_total, split -> figures)


def _at(epochs: Mapping[int, Mapping[str, Row]], target: float) -> Point | None:
    """(epoch, examples, figures) at `target` examples, interpolated between the bracketing
    main epochs; None where the first main epoch has already trained on more."""
    items = [(e, _total(rows), rows) for e, rows in epochs.items()]
    for (e0, t0, r0), (e1, t1, r1) in zip(items, items[1:], strict=False):
        if t0 < target <= t1:
            w = (target - t0) / (t1 - t0)
            figures: dict[str, Row] = {
                split: _lerp(r0[split], r1[split], w) for split in r0.keys() & r1.keys()
            }
            return e0 + w * (e1 - e0), target, figures
    e, total, rows = items[0]
    return (float(e), total, dict(rows)) if total == target else None


def _epoch(epochs: Mapping[int, Mapping[str, Row]], epoch: int) -> Point:
    return float(epoch), _total(epochs[epoch]), dict(epochs[epoch])


def _lerp(a: Row, b: Row, w: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("loss", "accuracy"):
        x, y = num(a.get(key)), num(b.get(key))
        out[key] = None if x is None or y is None else x + w * (y - x)
    return out


def match(arm_run: Run, base_run: Run) -> dict[str, Any] | None:
    """The arm's and the baseline's figures at equal examples trained on, or None without data."""
    arm, base = _epochs(arm_run), _epochs(base_run)
    if not arm or not base:
        return None
    arm_final, base_final = max(arm), max(base)
    arm_total, base_total = _total(arm[arm_final]), _total(base[base_final])
    if arm_total >= base_total:
        side = "arm reaches baseline"
        found = _at(arm, base_total)
        # Pre-training alone already beyond the baseline's whole budget: no fair point exists.
        overshoot = found is None
        arm_at, base_at = found or _epoch(arm, min(arm)), _epoch(base, base_final)
    else:
        side, overshoot = "baseline reaches arm", False
        # Below the baseline's first epoch (the arm trained on less): its first epoch.
        arm_at, base_at = _epoch(arm, arm_final), _at(base, arm_total) or _epoch(base, min(base))
    return {
        "arm_epoch": arm_at[0],
        "baseline_epoch": base_at[0],
        "arm_examples_total": arm_at[1],
        "baseline_examples_total": base_at[1],
        "side": side,
        "overshoot": overshoot,
        "_rows": (arm_at[2], base_at[2]),
    }


def _values(points: list[dict[str, Any]], split: str, metric: str, k: int) -> dict[int, float]:
    out = {}
    for point in points:
        value = num(point["_rows"][k].get(split, {}).get(metric))
        if value is not None:
            out[point["repeat"]] = 100 * value if metric == "accuracy" else value
    return out


def equal_compute(
    groups: Mapping[str, Mapping[int, Run]],
    baseline: str,
    excluded: frozenset[tuple[str, int]] = frozenset(),
) -> tuple[dict[str, Any], list[str]]:
    """summary.equal_compute ({compares, points, rows}) and notes on arms it cannot match."""
    points, rows, notes = [], [], []
    base_runs = groups.get(baseline, {})
    for arm, reps in groups.items():
        if arm == baseline:
            continue
        mine, missing = [], []
        for repeat in sorted(set(reps) & set(base_runs)):
            found = match(reps[repeat], base_runs[repeat])
            if found is None:
                missing.append(str(repeat))
            elif (arm, repeat) not in excluded:
                mine.append({"arm": arm, "repeat": repeat, **found})
        if missing:
            notes.append(
                f"equal_compute: {arm} vs {baseline}: no examples_total recorded in repeat(s)"
                f" {', '.join(missing)}; left out"
            )
        if any(p["overshoot"] for p in mine):
            notes.append(
                f"equal_compute: {arm} never matches {baseline}'s budget: by the end of its main"
                f" epoch 1 it has trained on more examples than {baseline} in all; compared"
                f" there, not at equal compute (both totals in points)"
            )
        for split in SPLITS:
            for metric in METRICS:
                values = {
                    baseline: _values(mine, split, metric, 1),
                    arm: _values(mine, split, metric, 0),
                }
                if values[arm]:
                    rows += paired_rows(
                        values, baseline, {"rule": "equal_compute", "split": split}, metric
                    )
        points += [{k: v for k, v in p.items() if k != "_rows"} for p in mine]
    return {"compares": COMPARES, "points": points, "rows": add_holm(rows)}, notes
