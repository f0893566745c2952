"""Figures 2–5 of the paper from run metrics: per arm, the median curve and a band over repeats.

A figure is a grid: one row per split, one column per metric (loss, accuracy in %). Main-phase
figures start at a chosen epoch, as the paper's do (epoch 5 in Fig. 2, 25 in Figs. 4–5); stage
figures (Fig. 3) start at epoch 0, measured before any training. Saved as PNG and SVG.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no network

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from core.phase_order import ordered_phases  # noqa: E402
from core.stats.summary import band, curve_stats  # noqa: E402

Run = Mapping[str, Any]
FIGURE_BANDS = ("iqr", "minmax", "p10p90")
BAND_LABELS = {"iqr": "25th–75th percentile", "minmax": "range", "p10p90": "10th–90th percentile"}
SPLIT_LABELS = {"val": "validation", "train": "training", "test": "test", "sample": "sample"}
FORMATS = ("png", "svg")
# The loss of a stage can grow by orders of magnitude (Fig. 3, top): above this ratio of the
# largest to the smallest median, the loss axis turns logarithmic.
LOG_RATIO = 20.0


def arms_in(runs: Iterable[Run]) -> list[str]:
    """Arm names in first-appearance order."""
    return list(dict.fromkeys(str(run["arm"]) for run in runs))


def phases_in(runs: Iterable[Run]) -> list[str]:
    """Phase names present in the metrics, in training order."""
    return ordered_phases(str(row["phase"]) for run in runs for row in run.get("metrics") or [])


def splits_in(runs: Iterable[Run], phase: str, wanted: Sequence[str]) -> list[str]:
    """Those of `wanted` that some run measured in `phase`."""
    present = {
        str(row["split"])
        for run in runs
        for row in run.get("metrics") or []
        if row["phase"] == phase
    }
    return [split for split in wanted if split in present]


def _draw_arm(
    ax: Any, rows: list[dict[str, Any]], kind: str, scale: float, color: Any, arm: str
) -> None:
    """The median line and the band of one arm (nothing when it has no rows)."""
    if not rows:
        return
    epochs = [row["epoch"] for row in rows]
    edges = [band(row, kind) for row in rows]  # iqr/minmax/p10p90 edges are always defined
    ax.plot(epochs, [scale * row["median"] for row in rows], color=color, label=arm, lw=1.5)
    low, high = ([scale * float(edge[i] or 0.0) for edge in edges] for i in (0, 1))
    ax.fill_between(epochs, low, high, color=color, alpha=0.2, lw=0)


def _style(ax: Any, phase: str, split: str, metric: str, legend: bool) -> None:
    """Titles, labels and grid; a logarithmic loss axis where the loss spans decades."""
    if metric == "loss":
        medians = [y for line in ax.get_lines() for y in line.get_ydata()]
        positive = [m for m in medians if m > 0]
        if positive and len(positive) == len(medians) and max(positive) / min(positive) > LOG_RATIO:
            ax.set_yscale("log")
    ax.set_title(f"{SPLIT_LABELS.get(split, split)} {metric}", fontsize=10)
    ax.set_xlabel(f"epoch ({phase})")
    ax.set_ylabel("accuracy (%)" if metric == "accuracy" else "loss (cross-entropy)")
    ax.grid(alpha=0.3)
    if legend and ax.get_lines():
        ax.legend(fontsize=8)


def plot_curves(
    runs: Sequence[Run],
    *,
    phase: str = "main",
    splits: Sequence[str] = ("val", "train"),
    metrics: Sequence[str] = ("loss", "accuracy"),
    from_epoch: int = 1,
    kind: str = "iqr",
    title: str = "",
    color_order: Sequence[str] | None = None,
) -> Figure:
    """Median line and `kind` band per arm, a row per split and a column per metric.

    `color_order` fixes each arm's colour by its place in that list, across figures.
    """
    if kind not in FIGURE_BANDS:
        raise ValueError(f"unknown band {kind!r}; valid choices: {', '.join(FIGURE_BANDS)}")
    arms = arms_in(runs)
    order = list(color_order or arms)
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(
        len(splits), len(metrics), figsize=(5.5 * len(metrics), 3.4 * len(splits)), squeeze=False
    )
    for r, split in enumerate(splits):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            for arm in arms:
                rows = [
                    row
                    for row in curve_stats(runs, arm, phase, split, metric)
                    if row["epoch"] >= from_epoch
                ]
                color = colors((order.index(arm) if arm in order else len(order)) % 10)
                _draw_arm(ax, rows, kind, 100.0 if metric == "accuracy" else 1.0, color, arm)
            _style(ax, phase, split, metric, legend=r == 0 and c == 0)
    fig.suptitle(f"{title} — median, band: {BAND_LABELS[kind]}".strip(" —"), fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write `stem`.png and `stem`.svg and close the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def experiment_figures(
    runs: Sequence[Run], out: Path, *, name: str, from_epoch: int = 1, kind: str = "iqr"
) -> list[Path]:
    """The main-phase figure (Figs. 2, 4, 5) and one per stage (Fig. 3), as PNG and SVG."""
    written = []
    for phase in phases_in(runs):
        stage = phase != "main"
        wanted = ("sample", "train", "val") if stage else ("val", "train")
        splits = splits_in(runs, phase, wanted)
        if not splits:
            continue
        with_phase = [
            run for run in runs if any(row["phase"] == phase for row in run.get("metrics") or [])
        ]
        fig = plot_curves(
            with_phase,
            phase=phase,
            splits=splits,
            from_epoch=0 if stage else from_epoch,
            kind=kind,
            title=f"{name}: {phase}",
            color_order=arms_in(runs),
        )
        written += save_figure(fig, out / f"curves-{phase}")
    return written
