"""Runs a researcher excluded from the statistics (a broken node, a bad data copy), with why.

The service stores the exclusions (store.results); the same note heads its summary, the
dashboard's exports and `initlab report` of a stored experiment, so it is written here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NOTE_PREFIX = "excluded:"
Exclusion = Mapping[str, Any]  # run_id, arm, repeat, reason, by (and at)


def dropped_pairs(
    excluded: Sequence[Exclusion], arms: Sequence[str], baseline: str
) -> set[tuple[str, int]]:
    """(arm, repeat) pairs with the baseline that an exclusion removes: the excluded arm's own
    pair, or every arm's pair of that repeat where the baseline's run is the excluded one."""
    pairs: set[tuple[str, int]] = set()
    for run in excluded:
        if run["arm"] == baseline:
            pairs |= {(arm, run["repeat"]) for arm in arms if arm != baseline}
        else:
            pairs.add((run["arm"], run["repeat"]))
    return pairs


def _pairs_text(pairs: set[tuple[str, int]], arms: Sequence[str]) -> str:
    order = {arm: i for i, arm in enumerate(arms)}
    ranked = sorted(pairs, key=lambda pair: (order.get(pair[0], len(order)), pair[0], pair[1]))
    return ", ".join(f"{arm} repeat {repeat}" for arm, repeat in ranked)


def exclusion_note(excluded: Sequence[Exclusion], arms: Sequence[str], baseline: str) -> str:
    """One line for the tables and reports: which runs were excluded and why, and which repeat
    pairs that drops from the paired comparisons."""
    pairs = dropped_pairs(excluded, arms, baseline)
    dropped = f" ({_pairs_text(pairs, arms)})" if pairs else ""
    each = "; ".join(
        f"run {r['run_id']} ({r['arm']}, repeat {r['repeat']}): {r['reason']}"
        + (f" (by {r['by']})" if r["by"] else "")
        for r in excluded
    )
    return (
        f"{NOTE_PREFIX} {len(excluded)} run(s) left out of every table and statistic,"
        f" {len(pairs)} repeat pair(s) dropped from the paired comparisons{dropped} — {each}"
    )


def exclusion_notes(summary: Mapping[str, Any]) -> list[str]:
    """The summary's exclusion note (a list of one, or empty), for the table exports."""
    return [n for n in summary.get("notes") or [] if str(n).startswith(NOTE_PREFIX)]


def with_exclusions(
    summary: dict[str, Any], excluded: Sequence[Exclusion], arms: Sequence[str], baseline: str
) -> dict[str, Any]:
    """The summary with its excluded runs listed, the pairs they drop counted and, if any, the
    note first among its notes (as GET /experiments/{id}/summary answers)."""
    summary["excluded"] = [dict(run) for run in excluded]
    summary["excluded_pairs"] = len(dropped_pairs(excluded, arms, baseline))
    if excluded:
        summary["notes"] = [exclusion_note(excluded, arms, baseline), *summary.get("notes", [])]
    return summary


def split_excluded(runs: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
    """(the runs that count, the exclusions) of runs as GET /experiments/{id}/runs lists them:
    a run with an `excluded_reason` is left out, as the service leaves it out. Runs of a
    results.json carry no such field: all count."""
    counted, excluded = [], []
    for run in runs:
        if run.get("excluded_reason"):
            excluded.append({
                "run_id": run.get("id"), "arm": run["arm"], "repeat": run["repeat"],
                "reason": run["excluded_reason"], "by": run.get("excluded_by"),
                "at": run.get("excluded_at"),
            })
        else:
            counted.append(run)
    excluded.sort(key=lambda r: (r["run_id"] is None, r["run_id"] or 0))
    return counted, excluded


def note_rows(summary: Mapping[str, Any], columns: Sequence[str]) -> list[dict[str, str]]:
    """The exclusion note as trailing CSV rows in the table's own columns: "note" in the first,
    the text in the second. A leading comment line would become the header of csv.DictReader
    and pandas; a row of the same width keeps the file parseable (filter on "note")."""
    return [{columns[0]: "note", columns[1]: note} for note in exclusion_notes(summary)]


def comment_lines(summary: Mapping[str, Any]) -> list[str]:
    """The exclusion note as LaTeX comment lines, each on one line (a line break in a reason
    would end the comment and let the rest be typeset)."""
    return ["% " + " ".join(note.split()) for note in exclusion_notes(summary)]
