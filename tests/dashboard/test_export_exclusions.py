"""An excluded run is named in every table export: the Exports tab's CSV and LaTeX (as its
Markdown always did) and `initlab report` of the stored experiment, which stays the same file
as the dashboard's. Without exclusions the files are as before. Checked by content against the
live API of conftest.py, on an imported experiment (finished at once, no training)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.paper.authors_import import import_authors_file
from core.reports.tables import CSV_COLUMNS, paired_csv_rows, summary_csv_rows
from dashboard.export import table_text
from initlab.cli import app
from initlab.commands.import_ import upload_document
from tests.core.authors_files import write_authors_file
from tests.dashboard.test_export_contents import _latex_tables
from tests.service.servers import TOKEN, Api, Service

pytestmark = pytest.mark.slow
REASON = "node gpu-7 is broken, 50% & more"  # a comma for CSV, % and & for LaTeX


@pytest.fixture(scope="module")
def stored(api: Api, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An imported three-repeat experiment: its id, baseline and other arms."""
    file = write_authors_file(tmp_path_factory.mktemp("excl") / "runs.npz", runs=3, epochs=4,
                              seed=31)
    response = api.http.post("/experiments/import",
                             json=upload_document(import_authors_file(file, "table1-16")))
    assert response.status_code == 201, response.text
    eid = response.json()["id"]
    spec = api.experiment(eid)["spec"]
    others = [arm["name"] for arm in spec["arms"] if arm["name"] != spec["baseline"]]
    return {"id": eid, "baseline": spec["baseline"], "others": others}


def _summary(api: Api, eid: int) -> dict[str, Any]:
    return dict(api.http.get(f"/experiments/{eid}/summary").json())


def _report(service: Service, eid: int, *options: str) -> str:
    result = CliRunner().invoke(app, ["report", str(eid), "--api", service.url, *options],
                                env={"INITLAB_API_TOKEN": TOKEN, "INITLAB_API_URL": None})
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def _csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == CSV_COLUMNS  # the header is still the first line
    return list(reader)


def test_without_exclusions_the_exports_are_as_before(
    api: Api, service: Service, stored: dict[str, Any]
) -> None:
    summary = _summary(api, stored["id"])
    assert summary["excluded"] == []
    rows = _csv_rows(table_text(summary, "csv"))
    assert len(rows) == len(summary_csv_rows(summary)) + len(paired_csv_rows(summary))
    assert all(row["rule"] != "note" for row in rows)
    tex = table_text(summary, "tex")
    assert not tex.startswith("%") and "excluded" not in tex
    assert _report(service, stored["id"], "--format", "csv") == table_text(summary, "csv")


def _baseline_run(api: Api, stored: dict[str, Any], repeat: int) -> dict[str, Any]:
    return next(r for r in api.runs(stored["id"])
                if (r["arm"], r["repeat"]) == (stored["baseline"], repeat))


@pytest.fixture
def excluded(api: Api, stored: dict[str, Any]) -> Any:
    """The baseline's run of repeat 1 excluded (every arm's pair of repeat 1 drops), then
    included again."""
    run = _baseline_run(api, stored, 1)
    answer = api.http.post(f"/runs/{run['id']}/exclude", json={"reason": REASON, "by": "ana"})
    assert answer.status_code == 200, answer.text
    yield run
    assert api.http.post(f"/runs/{run['id']}/include").status_code == 200


def _names_the_exclusion(text: str, run: dict[str, Any], stored: dict[str, Any]) -> None:
    assert f"run {run['id']} ({stored['baseline']}, repeat 1)" in text
    assert f"{len(stored['others'])} repeat pair(s) dropped" in text
    for arm in stored["others"]:
        assert f"{arm} repeat 1" in text, arm


def test_the_csv_names_the_excluded_run_its_reason_and_the_dropped_pairs(
    api: Api, service: Service, stored: dict[str, Any], excluded: dict[str, Any]
) -> None:
    summary = _summary(api, stored["id"])
    text = table_text(summary, "csv")
    rows = _csv_rows(text)
    notes = [row for row in rows if row["rule"] == "note"]
    assert len(notes) == 1 and rows[-1] is notes[0]  # after every figure
    note = notes[0]["arm"]
    assert note == summary["notes"][0] and f"{REASON} (by ana)" in note
    _names_the_exclusion(note, excluded, stored)
    figures = {(r["rule"], r["arm"], r["split"], r["statistic"]): r for r in rows}
    assert figures[("val_loss", stored["baseline"], "val", "n")]["loss"] == "2"  # 3 runs less 1
    assert _report(service, stored["id"], "--format", "csv") == text  # the same file
    tables = _csv_rows(_report(service, stored["id"], "--format", "csv", "--table", "tables"))
    assert [row["arm"] for row in tables if row["rule"] == "note"] == [note]


def test_the_latex_names_them_in_a_comment_and_under_the_tables(
    api: Api, service: Service, stored: dict[str, Any], excluded: dict[str, Any]
) -> None:
    summary = _summary(api, stored["id"])
    tex = table_text(summary, "tex")
    comment, *_ = tex.splitlines()
    assert comment.startswith("% excluded: 1 run(s) left out of every table and statistic")
    assert f"{REASON} (by ana)" in comment  # a comment: nothing escaped, nothing typeset
    _names_the_exclusion(comment, excluded, stored)
    typeset = tex.rsplit(r"\end{table}", 1)[1]
    assert r"node gpu-7 is broken, 50\% \& more (by ana)" in typeset
    _names_the_exclusion(typeset, excluded, stored)
    assert len(_latex_tables(tex)) == tex.count(r"\begin{tabular}")  # every table still parses
    report = _report(service, stored["id"], "--format", "latex")
    assert comment in report.splitlines() and typeset in report
    markdown = _report(service, stored["id"], "--format", "md")
    assert f"- {summary['notes'][0]}" in markdown


def test_the_report_of_a_results_folder_is_unchanged(tmp_path: Path) -> None:
    """Runs of a results.json carry no exclusions: all of them count, and no note is added."""
    file = write_authors_file(tmp_path / "runs.npz", runs=2, epochs=3, seed=32)
    folder = tmp_path / "out"
    assert CliRunner().invoke(app, ["import", str(file), "--preset", "table1-16", "--out",
                                    str(folder)]).exit_code == 0
    text = CliRunner().invoke(app, ["report", str(folder), "--format", "csv"]).stdout
    rows = _csv_rows(text)
    assert all(row["rule"] != "note" for row in rows)
    assert {row["loss"] for row in rows if row["statistic"] == "n" and row["split"] == "val"} == {
        "2"}
