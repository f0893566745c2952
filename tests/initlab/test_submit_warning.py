"""`initlab submit` prints the API's decision warnings before what it queued."""

from __future__ import annotations

from initlab.commands.experiments import submission_lines


def test_the_cli_prints_each_warning_before_the_runs() -> None:
    result = {"id": 7, "dry_run": False, "runs": [{"id": 1, "arm": "a", "repeat": 0}],
              "warnings": ["primary (val loss, t_mixture sequence) can never decide: ..."]}
    lines = submission_lines(result)
    assert lines[0].startswith("warning: primary (val loss") and lines[1] == "experiment 7: 1 runs"
    assert submission_lines({**result, "warnings": []})[0] == "experiment 7: 1 runs"
