"""Files to download: figures as PNG/SVG (matplotlib, offline) and tables as CSV/Markdown/LaTeX."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from core.reports.tables import to_csv, to_latex, to_markdown
from dashboard.charts import ArmSeries, CurveView

FIGURE_FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
TABLE_FORMATS = {"csv": ("text/csv", to_csv), "md": ("text/markdown", to_markdown),
                 "tex": ("application/x-tex", to_latex)}


def static_figure(series: Sequence[ArmSeries], view: CurveView) -> Figure:
    """The page's curve figure drawn with matplotlib (no pyplot: safe in Streamlit's threads)."""
    fig = Figure(figsize=(7.5, 4.5), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for s in series:
        for i, (xs, low, high) in enumerate(s.segments):
            ax.fill_between(xs, low, high, color=s.color, alpha=0.2, linewidth=0,
                            label=f"{s.arm} {view.band_label}" if i == 0 else None)
        for xs, values in s.runs.values():
            ax.plot(xs, values, color=s.color, alpha=0.35, linewidth=0.8)
        ax.plot(s.xs, s.centre, color=s.color, linewidth=2, marker="o", markersize=2.5,
                label=f"{s.arm} ({view.centre})")
    ax.set_xlabel(view.x_label)
    ax.set_ylabel(view.y_label)
    ax.set_title(view.title, fontsize=10)
    if view.log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if any(s.xs for s in series):
        ax.legend(fontsize=8, frameon=False)
    return fig


def figure_bytes(series: Sequence[ArmSeries], view: CurveView, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes."""
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}; valid choices: png, svg")
    out = io.BytesIO()
    static_figure(series, view).savefig(out, format=fmt)
    return out.getvalue()


def table_text(summary: Mapping[str, Any], fmt: str) -> str:
    """The summary's tables as CSV, Markdown or LaTeX (booktabs) text."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; valid choices: csv, md, tex")
    return TABLE_FORMATS[fmt][1](summary)


EXCLUDED_COLUMNS = ("run_id", "arm", "repeat", "reason", "by", "at")


def excluded_csv(summary: Mapping[str, Any]) -> str:
    """The runs left out of the summary's statistics, with why, who and when, as CSV."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXCLUDED_COLUMNS, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(summary.get("excluded") or [])
    return out.getvalue()


def file_stem(experiment: Mapping[str, Any]) -> str:
    """A safe file name stem for an experiment's downloads."""
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(experiment["name"]))
    return f"initlab-{experiment['id']}-{name.strip('-')[:60]}"
