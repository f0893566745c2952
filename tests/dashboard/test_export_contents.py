"""The Exports tab's files, checked by content: for the finished experiment of conftest.py, the
CSV and LaTeX tables parse and hold the API summary's numbers (to the printed precision), and
the PNG and SVG figures are well-formed images of the curves' size with every arm drawn."""

from __future__ import annotations

import csv
import io
import re
import struct
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from core.reports.tables import CSV_COLUMNS
from dashboard.charts import CurveView, curve_series
from dashboard.export import figure_bytes, table_text
from initlab.cli import app
from tests.service.servers import TOKEN, Api, Service

# Rows of each rule's LaTeX table: label, summary key, decimals printed (core/reports/tables.py).
LATEX_ROWS = [("Loss (mean)", "loss_mean", 3), ("Accuracy (mean)", "acc_mean", 3),
              ("Loss (median)", "loss_median", 3), ("Epoch taken (loss)", "epoch_mean", 2)]
SPLITS = {"val": "validation", "test": "test", "train": "training"}
STATISTICS = {"mean": ("loss_mean", "acc_mean"), "std": ("loss_std", "acc_std"),
              "median": ("loss_median", "acc_median"), "n": ("n", "n")}


@pytest.fixture(scope="module")
def summary(api: Api, finished: dict[str, Any]) -> dict[str, Any]:
    return dict(api.http.get(f"/experiments/{finished['id']}/summary").json())


def _cell(value: Any) -> float | None:
    return None if value in ("", None) else float(value)


def test_csv_parses_and_holds_every_table_number(summary: dict[str, Any]) -> None:
    reader = csv.DictReader(io.StringIO(table_text(summary, "csv")))
    assert reader.fieldnames == CSV_COLUMNS
    rows = {(r["rule"], r["arm"], r["split"], r["statistic"]): r for r in reader}
    checked = 0
    for rule in summary["rules"]:
        for table_row in summary["tables"][rule]:
            for statistic, (loss, accuracy) in STATISTICS.items():
                row = rows[(rule, table_row["arm"], table_row["split"], statistic)]
                assert _cell(row["loss"]) == table_row[loss], (rule, statistic, row)
                assert _cell(row["accuracy"]) == table_row[accuracy], (rule, statistic, row)
                checked += 1
    assert checked == len(summary["rules"]) * 2 * 3 * 4  # rules × arms × splits × statistics
    for paired in summary["paired"]["val_loss"]:
        row = rows[("val_loss", paired["arm"], paired["split"], "diff_mean")]
        assert _cell(row[paired["metric"]]) == paired["mean_diff"]


def test_report_csv_equals_the_dashboards(
    service: Service, finished: dict[str, Any], summary: dict[str, Any]
) -> None:
    """`initlab report --format csv` recomputes the summary from the rows: the same file."""
    result = CliRunner().invoke(
        app, ["report", str(finished["id"]), "--api", service.url, "--format", "csv"],
        env={"INITLAB_API_TOKEN": TOKEN, "INITLAB_API_URL": None},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == table_text(summary, "csv")


def _latex_tables(tex: str) -> dict[str, list[list[str]]]:
    """Each table's caption -> its tabular's rows of cells (header first)."""
    tables = {}
    for caption, body in re.findall(
        r"\\caption\{(.*?)\}\n\\begin\{tabular\}\{[lr]+\}\n(.*?)\\end\{tabular\}", tex, re.S
    ):
        lines = [line for line in body.splitlines() if line.endswith(r" \\")]
        tables[caption] = [[c.strip() for c in line[:-3].split(" & ")] for line in lines]
    return tables


def test_latex_has_each_rules_tabular_with_the_summarys_numbers(
    summary: dict[str, Any],
) -> None:
    tex = table_text(summary, "tex")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") >= len(summary["rules"])
    tables = _latex_tables(tex)
    for rule in summary["rules"]:
        escaped = rule.replace("_", r"\_")  # captions are LaTeX-escaped
        caption = next(c for c in tables if c.startswith(f"Rule {escaped} "))
        header, *body = tables[caption]
        by_label = {row[0]: row[1:] for row in body}
        assert all(len(row) == len(header) for row in body)
        for table_row in summary["tables"][rule]:
            column = header.index(f"{table_row['arm']} ({SPLITS[table_row['split']]})") - 1
            for label, key, decimals in LATEX_ROWS:
                printed = by_label[label][column]
                assert printed == f"{table_row[key]:.{decimals}f}", (rule, label, table_row)
            assert by_label["Runs (n)"][column] == str(table_row["n"]) == "3"


@pytest.fixture(scope="module")
def figure(api: Api, finished: dict[str, Any]) -> tuple[list[Any], CurveView]:
    """The Exports tab's figure: the default view (validation loss, main phase)."""
    view = CurveView()
    curves = api.http.get(
        f"/experiments/{finished['id']}/curves",
        params={"split": view.split, "metric": view.metric, "phase": view.phase,
                "band": view.band, "x": view.x},
    ).json()
    series = curve_series(curves, view, ["original", "smart"])
    assert all(len(s.xs) == 3 for s in series)  # three epochs of each arm
    return series, view


def test_png_is_an_image_of_the_figures_size_with_every_arm_drawn(
    figure: tuple[list[Any], CurveView],
) -> None:
    series, view = figure
    png = figure_bytes(series, view, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1125, 675)  # 7.5 × 4.5 inches at 150 dpi
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (width, height)
    colours = {colour for _, colour in image.getcolors(width * height)}
    for s in series:  # each arm's centre line, in its own colour
        assert tuple(int(s.color[i : i + 2], 16) for i in (1, 3, 5)) in colours, s.arm


def test_svg_parses_and_names_every_arm_and_axis(figure: tuple[list[Any], CurveView]) -> None:
    series, view = figure
    svg = figure_bytes(series, view, "svg").decode()
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (root.get("width"), root.get("height")) == ("540pt", "324pt")  # 7.5 × 4.5 in
    # Text is drawn as glyph paths; matplotlib keeps each string in a comment beside it.
    texts = set(re.findall(r"<!-- (.*?) -->", svg))
    assert {f"{s.arm} ({view.centre})" for s in series} <= texts
    assert {view.x_label, view.y_label} <= texts
    lines = [g for g in root.iter("{http://www.w3.org/2000/svg}g")
             if (g.get("id") or "").startswith("line2d")]
    assert lines  # the curves are there as drawn lines, not only the legend
