"""Curve figures: per arm a centre line, its band over repeats and, optionally, every run.

`curve_series` turns the API's /curves body (and metric rows for the run overlay) into plain
series; `plotly_figure` draws them for the page and `dashboard.export` draws the same series
with matplotlib for PNG/SVG files that need no browser or network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

# Okabe–Ito: distinguishable under the common colour-vision deficiencies; one colour per arm.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000"]
CENTRES = ("median", "mean")
BAND_LABELS = {"iqr": "IQR (25–75th percentile)", "p10p90": "10–90th percentile",
               "minmax": "min–max", "std": "± 1 s.t.d.", "ci95": "95% CI of the mean"}
SPLIT_LABELS = {"val": "validation", "test": "test", "train": "training", "sample": "sample"}


@dataclass
class ArmSeries:
    """What one arm's curve shows: centre per epoch, band segments where n ≥ 2, runs."""

    arm: str
    color: str
    epochs: list[int]
    centre: list[float]
    n: list[int]
    low: list[float | None]
    high: list[float | None]
    segments: list[tuple[list[int], list[float], list[float]]]  # (epochs, low, high)
    runs: dict[int, tuple[list[int], list[float]]] = field(default_factory=dict)


@dataclass
class CurveView:
    """The chart's options, shared by the Plotly and matplotlib renderings."""

    split: str = "val"
    metric: str = "loss"
    phase: str = "main"
    centre: str = "median"
    band: str = "iqr"
    log_y: bool = False
    x_from: int = 0
    overlay: bool = False

    @property
    def y_label(self) -> str:
        return "accuracy (%)" if self.metric == "accuracy" else "loss (cross-entropy)"

    @property
    def title(self) -> str:
        split = SPLIT_LABELS.get(self.split, self.split)
        return f"{split} {self.metric}, {self.phase} phase — {self.centre} and {self.band_label}"

    @property
    def band_label(self) -> str:
        return BAND_LABELS.get(self.band, self.band)


def arm_colors(arms: Iterable[str]) -> dict[str, str]:
    """A fixed colour per arm, in the spec's order."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}


def _scale(value: float | None, metric: str) -> float | None:
    if value is None:
        return None
    return 100 * value if metric == "accuracy" else value


def _segments(
    epochs: Sequence[int], n: Sequence[int], low: Sequence[float | None],
    high: Sequence[float | None],
) -> list[tuple[list[int], list[float], list[float]]]:
    """Runs of consecutive points with n ≥ 2 and both edges: a band never spans fewer runs."""
    segments: list[tuple[list[int], list[float], list[float]]] = []
    current: tuple[list[int], list[float], list[float]] = ([], [], [])
    for e, k, lo, hi in zip(epochs, n, low, high, strict=True):
        if k >= 2 and lo is not None and hi is not None:
            current[0].append(e)
            current[1].append(lo)
            current[2].append(hi)
        elif current[0]:
            segments.append(current)
            current = ([], [], [])
    if current[0]:
        segments.append(current)
    return segments


def _run_lines(
    rows: Iterable[Mapping[str, Any]], arm: str, view: CurveView
) -> dict[int, tuple[list[int], list[float]]]:
    """repeat -> (epochs, values) of one arm's individual runs for the chosen split/phase."""
    points: dict[int, dict[int, float]] = {}
    for row in rows:
        value = row.get(view.metric)
        if (row.get("arm") != arm or row.get("phase") != view.phase
                or row.get("split") != view.split or value is None
                or int(row["epoch"]) < view.x_from):
            continue
        points.setdefault(int(row["repeat"]), {})[int(row["epoch"])] = float(value)
    out = {}
    for repeat, by_epoch in sorted(points.items()):
        epochs = sorted(by_epoch)
        out[repeat] = (epochs, [_scale(by_epoch[e], view.metric) or 0.0 for e in epochs])
    return out


def curve_series(
    curves: Mapping[str, Any], view: CurveView, arms: Sequence[str] | None = None,
    rows: Iterable[Mapping[str, Any]] = (),
) -> list[ArmSeries]:
    """The API's /curves body as one ArmSeries per arm, from epoch `view.x_from` on."""
    by_arm: Mapping[str, list[dict[str, Any]]] = curves.get("arms", {})
    order = list(arms) if arms is not None else list(by_arm)
    colors = arm_colors(order)
    rows = list(rows) if view.overlay else []
    series = []
    for arm in order:
        points = [p for p in by_arm.get(arm, []) if int(p["epoch"]) >= view.x_from]
        epochs = [int(p["epoch"]) for p in points]
        n = [int(p["n"]) for p in points]
        low = [_scale(p.get("low"), view.metric) for p in points]
        high = [_scale(p.get("high"), view.metric) for p in points]
        centre = [_scale(p[view.centre], view.metric) or 0.0 for p in points]
        series.append(ArmSeries(
            arm=arm, color=colors[arm], epochs=epochs, centre=centre, n=n, low=low, high=high,
            segments=_segments(epochs, n, low, high),
            runs=_run_lines(rows, arm, view) if view.overlay else {},
        ))
    return series


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_traces(s: ArmSeries, view: CurveView) -> list[go.Scatter]:
    traces = []
    for i, (epochs, low, high) in enumerate(s.segments):
        traces.append(go.Scatter(
            x=epochs + epochs[::-1], y=high + low[::-1], fill="toself", mode="lines",
            line={"width": 0}, fillcolor=_rgba(s.color, 0.2), hoverinfo="skip",
            name=f"{s.arm} {view.band_label}", legendgroup=s.arm, showlegend=i == 0,
        ))
    return traces


def _run_traces(s: ArmSeries) -> list[go.Scatter]:
    return [
        go.Scatter(
            x=epochs, y=values, mode="lines", line={"width": 1, "color": s.color},
            opacity=0.35, name=f"{s.arm} #{repeat}", legendgroup=s.arm, showlegend=False,
            hovertemplate=f"{s.arm} repeat {repeat}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
        )
        for repeat, (epochs, values) in s.runs.items()
    ]


def _centre_trace(s: ArmSeries, view: CurveView) -> go.Scatter:
    custom = [[k, lo, hi] for k, lo, hi in zip(s.n, s.low, s.high, strict=True)]
    hover = (f"<b>{s.arm}</b><br>epoch %{{x}}<br>{view.centre}: %{{y:.4g}}"
             f"<br>{view.band}: [%{{customdata[1]:.4g}}, %{{customdata[2]:.4g}}]"
             "<br>n = %{customdata[0]} runs<extra></extra>")
    return go.Scatter(
        x=s.epochs, y=s.centre, mode="lines+markers", name=s.arm, legendgroup=s.arm,
        line={"color": s.color, "width": 2}, marker={"size": 4}, customdata=custom,
        hovertemplate=hover,
    )


def plotly_figure(series: Sequence[ArmSeries], view: CurveView) -> go.Figure:
    """Bands first, then individual runs, then centre lines on top; n shown on hover."""
    fig = go.Figure()
    for s in series:
        for trace in _band_traces(s, view):
            fig.add_trace(trace)
    for s in series:
        for trace in _run_traces(s):
            fig.add_trace(trace)
    for s in series:
        fig.add_trace(_centre_trace(s, view))
    fig.update_layout(
        title=view.title, xaxis_title="epoch", yaxis_title=view.y_label, hovermode="closest",
        legend={"orientation": "h", "y": -0.2}, margin={"t": 50, "l": 10, "r": 10, "b": 10},
        height=460,
    )
    fig.update_yaxes(type="log" if view.log_y else "linear")
    epochs = [e for s in series for e in s.epochs]
    if epochs and max(epochs) - min(epochs) <= 20:  # whole epochs only on short axes
        fig.update_xaxes(dtick=1)
    return fig
