"""`initlab search status` and the report's confirmation table, from a real search's stored
answer (docs/calibration-fashion-mnist/search.json): the confirmed difference (at equal
compute) and the primary's decision (at each run's selected epoch) are told apart, since side by
side "better" beside an interval across zero reads as a contradiction."""

from __future__ import annotations

import json
from pathlib import Path

from initlab.commands.search import confirmation_lines, search_markdown

SEARCH = json.loads(
    (Path(__file__).parents[2] / "docs/calibration-fashion-mnist/search.json").read_text()
)


def test_the_status_lines_say_what_each_column_compares() -> None:
    lines = confirmation_lines(SEARCH)
    assert lines[1].split()[-1] == "primary"
    paper = next(line for line in lines if line.strip().startswith("paper-default"))
    assert "[-0.0250, +0.0525]" in paper and paper.endswith("better")
    assert lines[-1].strip().startswith("confirmed: the search's objective (at equal compute);")
    assert "read at its selected main epoch, not at equal compute" in lines[-1]


def test_the_report_table_says_it_too() -> None:
    text = search_markdown(SEARCH)
    assert "| arm | search estimate | confirmed | 95% CI | n | gap | primary |" in text
    assert "Confirmed: the search's objective (at equal compute); primary:" in text
