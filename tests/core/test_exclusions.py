"""core.stats.exclusions: the note that names excluded runs, and how the CSV and LaTeX carry it."""

from __future__ import annotations

import csv
import io

from core.reports.tables import CSV_COLUMNS, to_csv, to_latex
from core.stats.exclusions import exclusion_note, split_excluded, with_exclusions

ARMS = ["base", "a", "b"]
RUNS = [
    {"id": 9, "arm": "a", "repeat": 1, "excluded_reason": "same node", "excluded_by": "ana"},
    {"id": 3, "arm": "base", "repeat": 1, "excluded_reason": "bad\ndisk, 100%"},
    {"id": 4, "arm": "b", "repeat": 0},
]


def _summary() -> dict:
    counted, excluded = split_excluded(RUNS)
    assert [run["id"] for run in counted] == [4]
    assert [run["run_id"] for run in excluded] == [3, 9]  # in run order, as the service lists
    empty = {"baseline": "base", "arms": ARMS, "rules": [], "tables": {}, "paired": {},
             "preprocessing": {}, "notes": ["val_loss: a later note"]}
    return with_exclusions(empty, excluded, ARMS, "base")


def test_the_note_names_each_run_its_reason_and_every_dropped_pair_in_arm_order() -> None:
    summary = _summary()
    assert summary["excluded_pairs"] == 2
    note = exclusion_note(summary["excluded"], ARMS, "base")
    assert summary["notes"] == [note, "val_loss: a later note"]
    assert "2 repeat pair(s) dropped from the paired comparisons (a repeat 1, b repeat 1) —" in note
    assert "run 3 (base, repeat 1): bad\ndisk, 100%; run 9 (a, repeat 1): same node (by ana)" in (
        note)


def test_the_csv_ends_with_one_note_row_of_its_own_columns() -> None:
    summary = _summary()
    rows = list(csv.DictReader(io.StringIO(to_csv(summary))))
    assert rows == [{**dict.fromkeys(CSV_COLUMNS, ""), "rule": "note", "arm": summary["notes"][0]}]


def test_the_latex_comment_stays_one_line_and_the_typeset_note_is_escaped() -> None:
    tex = to_latex(_summary())
    comment, blank, typeset, end = tex.split("\n", 3)
    assert comment.startswith("% excluded: 2 run(s)") and "bad disk, 100%;" in comment
    assert blank == "" and typeset.startswith(r"\noindent excluded: 2 run(s)")
    assert r"bad disk, 100\%;" in typeset and end == "" and "later note" not in tex
