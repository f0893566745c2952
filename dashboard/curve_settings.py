"""The Curves tab's settings and their URL form, so a copied link reproduces the view."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from typing import Any

from core.stats.curves import BANDS, X_AXES
from dashboard.charts import CENTRES, CurveView

LAYOUTS = ("grid", "single")
GRID_METRICS = ("loss", "accuracy")
GRID_SPLITS = ("train", "val", "test")
SPLITS = ("val", "train", "test", "sample")
METRICS = ("loss", "accuracy")
# URL key -> (session-state key of the widget, default, parser); short keys keep links short.
DEFAULTS: dict[str, Any] = {
    "layout": "grid", "x": "epoch", "phase": "main", "centre": "median", "band": "iqr",
    "ema": 0.0, "runs": False, "log": False, "from": 0.0, "split": "val", "metric": "loss",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "layout": LAYOUTS, "x": X_AXES, "centre": CENTRES, "band": BANDS, "split": SPLITS,
    "metric": METRICS,
}
STATE_PREFIX = "curve_"


def _parse(key: str, raw: str) -> Any:
    """One URL value as its setting, or None where it is not a valid one (then ignored)."""
    default = DEFAULTS[key]
    if key in CHOICES:
        return raw if raw in CHOICES[key] else None
    if isinstance(default, bool):
        return {"1": True, "true": True, "0": False, "false": False}.get(raw.lower())
    if isinstance(default, float):
        try:
            value = float(raw)
        except ValueError:
            return None
        ok = 0 <= value < 1 if key == "ema" else value >= 0
        return value if ok else None
    return raw or None  # phase: checked against the experiment's phases by the page


def from_query(query: Mapping[str, str]) -> dict[str, Any]:
    """The settings a URL names, valid ones only; the rest keep their defaults."""
    out = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in query and (value := _parse(key, str(query[key]))) is not None:
            out[key] = value
    return out


def to_query(settings: Mapping[str, Any]) -> dict[str, str]:
    """The settings that differ from the defaults, as URL values."""
    out = {}
    for key, default in DEFAULTS.items():
        value = settings.get(key, default)
        if value != default:
            out[key] = ("1" if value else "0") if isinstance(value, bool) else f"{value:g}" \
                if isinstance(value, float) else str(value)
    return out


def seed_state(state: MutableMapping[str, Any], query: Mapping[str, str]) -> None:
    """Fill the widgets' state from the URL once, before the widgets are drawn."""
    for key, value in from_query(query).items():
        state.setdefault(STATE_PREFIX + key, value)


def view_of(settings: Mapping[str, Any]) -> CurveView:
    """The single-panel CurveView the settings describe."""
    return CurveView(
        split=settings["split"], metric=settings["metric"], phase=settings["phase"],
        centre=settings["centre"], band=settings["band"], log_y=settings["log"],
        x_from=settings["from"], overlay=settings["runs"], x=settings["x"],
        smoothing=settings["ema"],
    )


def panels(view: CurveView) -> list[CurveView]:
    """The grid: loss and accuracy × training, validation, test (sample in a stage)."""
    first = "sample" if view.phase.startswith("stage-") else "train"
    splits = (first, *GRID_SPLITS[1:])
    return [replace(view, metric=m, split=s) for m in GRID_METRICS for s in splits]


def lr_panel(view: CurveView) -> CurveView:
    """The learning rate as its own panel, from the split every training epoch records."""
    split = "sample" if view.phase.startswith("stage-") else "train"
    return replace(view, metric="lr", split=split, log_y=False)
