"""Curve figures: per arm a centre line, its band over repeats and, optionally, every run.

`curve_series` turns the API's /curves body (and /lines body for the run overlay) into plain
series; `plotly_figure` draws them for the page and `dashboard.export` draws the same series
with matplotlib for PNG/SVG files that need no browser or network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

from dashboard.sweeps import SweepAxis, along_axis

# Okabe–Ito: distinguishable under the common colour-vision deficiencies; one colour per arm.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000"]
CENTRES = ("median", "mean")
BAND_LABELS = {"iqr": "IQR (25–75th percentile)", "p10p90": "10–90th percentile",
               "minmax": "min–max", "std": "± 1 s.t.d.", "ci95": "95% CI of the mean"}
SPLIT_LABELS = {"val": "validation", "test": "test", "train": "training", "sample": "sample"}
X_LABELS = {"epoch": "epoch", "examples_total": "examples trained on (all phases)",
            "seconds_total": "training time (s, all phases)"}
Y_LABELS = {"loss": "loss (cross-entropy)", "accuracy": "accuracy (%)", "lr": "learning rate"}
HOVERED_RUNS = 24  # beyond this many run lines, hover lists only the arms' centre lines


@dataclass
class ArmSeries:
    """What one arm's curve shows: centre per x, band segments where n ≥ 2, runs."""

    arm: str
    color: str
    xs: list[float]
    centre: list[float]
    n: list[int]
    low: list[float | None]
    high: list[float | None]
    segments: list[tuple[list[float], list[float], list[float]]]  # (xs, low, high)
    runs: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)


@dataclass
class CurveView:
    """The chart's options, shared by the Plotly and matplotlib renderings."""

    split: str = "val"
    metric: str = "loss"
    phase: str = "main"
    centre: str = "median"
    band: str = "iqr"
    log_y: bool = False
    x_from: float = 0
    overlay: bool = False
    x: str = "epoch"
    smoothing: float = 0.0  # EMA weight of the previous smoothed point; 0 is off

    @property
    def y_label(self) -> str:
        return Y_LABELS.get(self.metric, self.metric)

    @property
    def x_label(self) -> str:
        return X_LABELS.get(self.x, self.x)

    @property
    def panel_title(self) -> str:
        if self.metric == "lr":
            return "learning rate"
        return f"{SPLIT_LABELS.get(self.split, self.split)} {self.metric}"

    @property
    def title(self) -> str:
        ema = f", EMA {self.smoothing:g}" if self.smoothing else ""
        return (f"{self.panel_title}, {self.phase} phase — {self.centre} and {self.band_label}"
                f"{ema}")

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


def ema(values: Sequence[float | None], weight: float) -> list[float | None]:
    """Exponential moving average (TensorBoard's): s_i = w·s_(i-1) + (1 − w)·v_i; gaps stay."""
    if not 0 <= weight < 1:
        raise ValueError(f"EMA weight must be in [0, 1), got {weight}")
    out: list[float | None] = []
    last: float | None = None
    for v in values:
        if v is None:
            out.append(None)
            continue
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


def _segments(
    xs: Sequence[float], n: Sequence[int], low: Sequence[float | None],
    high: Sequence[float | None],
) -> list[tuple[list[float], list[float], list[float]]]:
    """Runs of consecutive points with n ≥ 2 and both edges: a band never spans fewer runs."""
    segments: list[tuple[list[float], list[float], list[float]]] = []
    current: tuple[list[float], list[float], list[float]] = ([], [], [])
    for x, k, lo, hi in zip(xs, n, low, high, strict=True):
        if k >= 2 and lo is not None and hi is not None:
            current[0].append(x)
            current[1].append(lo)
            current[2].append(hi)
        elif current[0]:
            segments.append(current)
            current = ([], [], [])
    if current[0]:
        segments.append(current)
    return segments


def _run_lines(
    lines: Iterable[Mapping[str, Any]], view: CurveView
) -> dict[int, tuple[list[float], list[float]]]:
    """repeat -> (xs, values) of one arm's runs (the API's /lines items), from x_from on."""
    out = {}
    for line in lines:
        kept = [(x, y) for x, y in zip(line["x"], line["y"], strict=True) if x >= view.x_from]
        values = [_scale(y, view.metric) for _, y in kept]
        if view.smoothing:
            values = ema(values, view.smoothing)
        out[int(line["repeat"])] = ([x for x, _ in kept], [v or 0.0 for v in values])
    return out


def _x_of(point: Mapping[str, Any]) -> float:
    return float(point["x"] if "x" in point else point["epoch"])


def curve_series(
    curves: Mapping[str, Any], view: CurveView, arms: Sequence[str] | None = None,
    lines: Mapping[str, Any] | None = None,
) -> list[ArmSeries]:
    """The API's /curves body (and /lines body for the overlay) as one ArmSeries per arm."""
    by_arm: Mapping[str, list[dict[str, Any]]] = curves.get("arms", {})
    order = list(arms) if arms is not None else list(by_arm)
    colors = arm_colors(order)
    run_lines = (lines or {}).get("arms", {}) if view.overlay else {}
    smooth = (lambda v: ema(v, view.smoothing)) if view.smoothing else list
    series = []
    for arm in order:
        points = [p for p in by_arm.get(arm, []) if _x_of(p) >= view.x_from]
        xs = [_x_of(p) for p in points]
        n = [int(p["n"]) for p in points]
        low = smooth([_scale(p.get("low"), view.metric) for p in points])
        high = smooth([_scale(p.get("high"), view.metric) for p in points])
        centre = smooth([_scale(p[view.centre], view.metric) for p in points])
        series.append(ArmSeries(
            arm=arm, color=colors[arm], xs=xs, centre=[c or 0.0 for c in centre], n=n, low=low,
            high=high, segments=_segments(xs, n, low, high),
            runs=_run_lines(run_lines.get(arm, []), view),
        ))
    return series


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_traces(s: ArmSeries, view: CurveView) -> list[go.Scatter]:
    traces = []
    for i, (xs, low, high) in enumerate(s.segments):
        traces.append(go.Scatter(
            x=xs + xs[::-1], y=high + low[::-1], fill="toself", mode="lines",
            line={"width": 0}, fillcolor=_rgba(s.color, 0.2), hoverinfo="skip",
            name=f"{s.arm} {view.band_label}", legendgroup=s.arm, showlegend=i == 0,
        ))
    return traces


def _run_traces(s: ArmSeries, hover: bool) -> list[go.Scatter]:
    """One faint line per run, named (arm, repeat); hover only while few enough to read."""
    return [
        go.Scatter(
            x=xs, y=values, mode="lines", line={"width": 1, "color": s.color},
            opacity=0.35, name=f"{s.arm}, repeat {repeat}", legendgroup=s.arm, showlegend=False,
            hoverinfo=None if hover else "skip",
            hovertemplate=f"{s.arm}, repeat {repeat}: %{{y:.4g}}<extra></extra>",
        )
        for repeat, (xs, values) in s.runs.items()
    ]


def _centre_trace(s: ArmSeries, view: CurveView) -> go.Scatter:
    custom = [[k, lo, hi] for k, lo, hi in zip(s.n, s.low, s.high, strict=True)]
    hover = (f"<b>{s.arm}</b> {view.centre} %{{y:.4g}}"
             f" [%{{customdata[1]:.4g}}, %{{customdata[2]:.4g}}]"
             " · n = %{customdata[0]} runs<extra></extra>")
    return go.Scatter(
        x=s.xs, y=s.centre, mode="lines+markers", name=s.arm, legendgroup=s.arm,
        line={"color": s.color, "width": 2}, marker={"size": 4}, customdata=custom,
        hovertemplate=hover,
    )


def plotly_figure(
    series: Sequence[ArmSeries], view: CurveView, *, height: int = 460, title: str | None = None
) -> go.Figure:
    """Bands first, then runs, then centre lines; hover lists every arm's value and n at an x."""
    fig = go.Figure()
    for s in series:
        for trace in _band_traces(s, view):
            fig.add_trace(trace)
    hover_runs = sum(len(s.runs) for s in series) <= HOVERED_RUNS
    for s in series:
        for trace in _run_traces(s, hover_runs):
            fig.add_trace(trace)
    for s in series:
        fig.add_trace(_centre_trace(s, view))
    fig.update_layout(
        title=view.title if title is None else title, xaxis_title=view.x_label,
        yaxis_title=view.y_label, hovermode="x unified",
        # Below the x axis title: in a short grid panel -0.2 of the plot's height overlapped it.
        legend={"orientation": "h", "yanchor": "top", "y": -0.2 if height >= 400 else -0.38},
        margin={"t": 50, "l": 10, "r": 10, "b": 10}, height=height,
    )
    if height < 400:  # a grid panel: one legend row of arms; the caption names the band
        fig.update_traces(showlegend=False, selector={"fill": "toself"})
    fig.update_yaxes(type="log" if view.log_y else "linear")
    xs = [x for s in series for x in s.xs]
    if view.x == "epoch" and xs and max(xs) - min(xs) <= 20:  # whole epochs on short axes
        fig.update_xaxes(dtick=1)
    return fig


# --- a sweep: the selected figure against each sweep point (dashboard.sweeps builds the points) ---

TICKED_POINTS = 12  # up to this many sweep points, the x axis is ticked at each swept value


def _x_axis(fig: go.Figure, axis: SweepAxis) -> None:
    ids = axis.order(axis.positions)
    if axis.numeric:
        fig.update_xaxes(type="log" if axis.log else "linear")
        if len(ids) <= TICKED_POINTS:  # a tick at each swept value, written as in the spec
            fig.update_xaxes(tickvals=[axis.positions[i] for i in ids],
                             ticktext=[axis.labels[i] for i in ids])
    else:
        fig.update_xaxes(type="category", categoryorder="array",
                         categoryarray=[axis.positions[i] for i in ids])


def _by_arm(points: Sequence[Mapping[str, Any]], axis: SweepAxis, key: str) -> dict[str, list[Any]]:
    """arm -> its points with a `key` figure, left to right along the axis."""
    out: dict[str, list[Any]] = {}
    for p in along_axis(points, axis):
        if p.get(key) is not None and p["experiment"] in axis.positions:
            out.setdefault(str(p["arm"]), []).append(p)
    return out


def _banded_runs(points: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Neighbouring points with n ≥ 2: a band never spans a point of fewer runs."""
    runs: list[list[Mapping[str, Any]]] = [[]]
    for p in points:
        if p["n"] >= 2:
            runs[-1].append(p)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def sweep_figure(
    points: Sequence[Mapping[str, Any]], axis: SweepAxis, arms: Sequence[str], *, title: str,
    y_label: str, band_label: str,
) -> go.Figure:
    """Per arm the median over repeats at each sweep point, with a band over the repeats."""
    colors = arm_colors(arms)
    fig = go.Figure()
    lines = _by_arm(points, axis, "median")
    for arm, arm_points in lines.items():
        for i, banded in enumerate(_banded_runs(arm_points)):
            x = [axis.positions[p["experiment"]] for p in banded]
            fig.add_trace(go.Scatter(
                x=x + x[::-1], y=[p["high"] for p in banded] + [p["low"] for p in banded][::-1],
                fill="toself", mode="lines", line={"width": 0}, hoverinfo="skip",
                fillcolor=_rgba(colors.get(arm, PALETTE[-1]), 0.2), legendgroup=arm,
                name=f"{arm} {band_label}", showlegend=i == 0,
            ))
    for arm, arm_points in lines.items():
        fig.add_trace(go.Scatter(
            x=[axis.positions[p["experiment"]] for p in arm_points],
            y=[p["median"] for p in arm_points], mode="lines+markers", name=arm, legendgroup=arm,
            line={"color": colors.get(arm, PALETTE[-1]), "width": 2}, marker={"size": 7},
            customdata=[[axis.labels[p["experiment"]], p["n"], p["low"], p["high"]]
                        for p in arm_points],
            hovertemplate=(f"<b>{arm}</b><br>{axis.title} = %{{customdata[0]}}<br>median: "
                           "%{y:.4g}<br>band: [%{customdata[2]:.4g}, %{customdata[3]:.4g}]"
                           "<br>n = %{customdata[1]} runs<extra></extra>"),
        ))
    fig.update_layout(title=title, xaxis_title=axis.title, yaxis_title=y_label, height=460,
                      legend={"orientation": "h", "y": -0.25},
                      margin={"t": 50, "l": 10, "r": 10, "b": 10})
    _x_axis(fig, axis)
    return fig


def paired_sweep_figure(
    points: Sequence[Mapping[str, Any]], axis: SweepAxis, arms: Sequence[str], *, title: str,
    y_label: str,
) -> go.Figure:
    """Per arm the mean paired difference to the baseline at each sweep point, with its 95% CI."""
    colors = arm_colors(arms)
    fig = go.Figure()
    for arm, arm_points in _by_arm(points, axis, "mean_diff").items():
        mean = [p["mean_diff"] for p in arm_points]
        fig.add_trace(go.Scatter(
            x=[axis.positions[p["experiment"]] for p in arm_points], y=mean,
            mode="lines+markers", name=f"{arm} − {arm_points[0]['baseline']}",
            line={"color": colors.get(arm, PALETTE[-1]), "width": 2}, marker={"size": 7},
            error_y={"type": "data", "symmetric": False,
                     "array": [_gap(p["ci95_high"], m) for p, m in zip(arm_points, mean,
                                                                       strict=True)],
                     "arrayminus": [_gap(m, p["ci95_low"]) for p, m in zip(arm_points, mean,
                                                                           strict=True)]},
            customdata=[[axis.labels[p["experiment"]], p["n"]] for p in arm_points],
            hovertemplate=(f"<b>{arm}</b><br>{axis.title} = %{{customdata[0]}}<br>mean "
                           "difference: %{y:.4g}<br>n = %{customdata[1]} pairs<extra></extra>"),
        ))
    fig.add_hline(y=0, line={"color": "#888888", "dash": "dash", "width": 1})
    fig.update_layout(title=title, xaxis_title=axis.title, yaxis_title=y_label, height=380,
                      legend={"orientation": "h", "y": -0.3},
                      margin={"t": 50, "l": 10, "r": 10, "b": 10})
    _x_axis(fig, axis)
    return fig


def _gap(high: float | None, low: float | None) -> float:
    """An error bar's length; 0 where the CI is undefined (fewer than two pairs)."""
    return 0.0 if high is None or low is None else high - low
