"""`initlab report --format csv --table tables|paired|preprocessing|all` on a run folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from initlab.cli import app
from tests.core.test_report import SPEC, make_run


def report_csv(folder: Path, *args: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(app, ["report", str(folder), "--format", "csv", *args])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_each_table_alone_and_all_together(tmp_path: Path) -> None:
    runs = [make_run(arm, r) for r in range(3) for arm in ("original", "smart-init")]
    (tmp_path / "results.json").write_text(json.dumps({"spec": SPEC, "runs": runs}))
    tables = report_csv(tmp_path, "--table", "tables")
    paired = report_csv(tmp_path, "--table", "paired")
    assert {r["statistic"] for r in tables} == {"mean", "std", "median", "n"}
    assert {"diff_mean", "p_holm", "win_rate"} <= {r["statistic"] for r in paired}
    assert report_csv(tmp_path) == report_csv(tmp_path, "--table", "all") == tables + paired
    shares = report_csv(tmp_path, "--table", "preprocessing")
    assert [(r["arm"], r["n"], float(r["share"])) for r in shares] == [
        ("original", "3", 0.1), ("smart-init", "3", 0.1)]
    markdown = CliRunner().invoke(app, ["report", str(tmp_path), "--table", "paired"])
    assert markdown.exit_code == 2 and "only with --format csv" in markdown.output
