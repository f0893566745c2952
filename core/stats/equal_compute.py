"""Equal-compute comparison: each arm against the baseline at the same examples trained on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.stats.paired import add_holm, paired_rows
from core.stats.records import Row, Run, num, series

COMPARES = (
    "Equal compute: each arm at the first main epoch where the examples it has trained on, all"
    " phases included (stages, preprocessing, main), reach the baseline's total at its final"
    " epoch, against the baseline's final epoch (or, where the baseline trained on more, the"
    " baseline at the first main epoch reaching the arm's final total, against the arm's final"
    " epoch); figures at those epochs, no selection rule, arm minus baseline paired by repeat."
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


def _reaching(epochs: Mapping[int, Mapping[str, Row]], target: float) -> int:
    return next(e for e, rows in epochs.items() if _total(rows) >= target)


def match(arm_run: Run, base_run: Run) -> dict[str, Any] | None:
    """The (arm epoch, baseline epoch) pair of equal examples trained on, or None without data."""
    arm, base = _epochs(arm_run), _epochs(base_run)
    if not arm or not base:
        return None
    arm_final, base_final = max(arm), max(base)
    if _total(arm[arm_final]) >= _total(base[base_final]):
        arm_epoch, base_epoch = _reaching(arm, _total(base[base_final])), base_final
        side = "arm reaches baseline"
    else:
        arm_epoch, base_epoch = arm_final, _reaching(base, _total(arm[arm_final]))
        side = "baseline reaches arm"
    first = arm[arm_epoch]
    trained = [t for t in (num(r.get("examples")) for r in first.values()) if t is not None]
    # Examples before that epoch's training (unknown without the per-epoch count).
    before = _total(first) - max(trained) if trained else None
    return {
        "arm_epoch": arm_epoch,
        "baseline_epoch": base_epoch,
        "arm_examples_total": _total(arm[arm_epoch]),
        "baseline_examples_total": _total(base[base_epoch]),
        "side": side,
        # Pre-training alone already beyond the baseline's whole budget: no fair epoch exists.
        "overshoot": side == "arm reaches baseline"
        and before is not None
        and before >= _total(base[base_final]),
        "_rows": (arm[arm_epoch], base[base_epoch]),
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
                f"equal_compute: {arm} never matches {baseline}'s budget: its pre-training alone"
                f" exceeds it, so its main epoch 1 has already trained on more examples"
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
