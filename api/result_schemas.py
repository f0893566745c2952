"""Response bodies of the results routes: metric rows, curves, run lines, selections, summary."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Band = Literal["iqr", "p10p90", "minmax", "std", "ci95"]
MetricName = Literal["loss", "accuracy", "lr"]  # lr: the learning rate, per epoch
Stat = float | None  # None where it needs more repeats (std, CI of one run) or is not finite


class CurvePoint(BaseModel):
    """One x of one arm's curve over repeats (core.stats.curves.curve_stats) and the band's edges.

    Off the epoch axis the point also carries its axis by name (e.g. "examples_total": x)."""

    model_config = ConfigDict(extra="allow")

    x: float
    epoch: int | None = Field(None, description="on the epoch axis only")
    n: int = Field(description="repeats with a value at this x")
    median: Stat
    p25: Stat
    p75: Stat
    p10: Stat
    p90: Stat
    min: Stat
    max: Stat
    mean: Stat
    std: Stat
    ci95_low: Stat
    ci95_high: Stat
    low: Stat
    high: Stat


class MetricRow(BaseModel):
    id: int
    run_id: int
    arm: str
    repeat: int
    phase: str
    epoch: int
    split: str
    loss: float | None
    accuracy: float | None
    lr: float | None
    seconds: float | None
    examples: int | None
    examples_total: int | None = None
    seconds_total: float | None = None


class MetricPage(BaseModel):
    """Rows with id > after; pass next_cursor as ?after= to get only newer rows."""

    items: list[MetricRow]
    next_cursor: int


class Curves(BaseModel):
    """Per arm, per x (epoch, examples or seconds trained on): core.stats.summary.curve_stats plus
    the
    chosen band as low/high; every point has "x" (and "epoch" on the epoch axis)."""

    phase: str
    split: str
    metric: MetricName
    band: Band
    x: str = "epoch"
    arms: dict[str, list[CurvePoint]]


class RunLine(BaseModel):
    """One run's figure along x, down-sampled (core.stats.run_lines)."""

    repeat: int
    x: list[float]
    y: list[float]


class RunLines(BaseModel):
    """Per arm, each repeat's own line: the chart's "individual runs" overlay."""

    phase: str
    split: str
    metric: MetricName
    x: str
    arms: dict[str, list[RunLine]]


class SplitPick(BaseModel):
    """What a selection rule picked in one split of one run (core.stats.summary.select)."""

    model_config = ConfigDict(extra="allow")

    loss: Stat
    accuracy: Stat
    epoch: int | None
    loss_epoch: int | None
    accuracy_epoch: int | None
    selected_by: str = Field(description="the rule, or the fallback used where it could not apply")


class SelectedRun(BaseModel):
    """GET /experiments/{id}/selected: one run's picks per split."""

    arm: str
    repeat: int
    splits: dict[str, SplitPick]


class TableRow(BaseModel):
    """One arm × split × rule row of the summary tables (accuracy in percent)."""

    model_config = ConfigDict(extra="allow")

    rule: str
    arm: str
    split: str
    n: int
    n_fallback: int = Field(description="runs where the rule fell back to another pick")
    loss_mean: Stat
    loss_std: Stat
    loss_median: Stat
    acc_mean: Stat
    acc_std: Stat
    acc_median: Stat
    epoch_mean: Stat
    epoch_std: Stat
    epoch_median: Stat


class Summary(BaseModel):
    """GET /experiments/{id}/summary (core.stats.summary.summarize): tables per selection rule,
    paired
    comparisons against the baseline (the primary first), the primary's confidence sequence,
    equal-compute comparisons and the preprocessing share."""

    model_config = ConfigDict(extra="allow")

    baseline: str | None
    arms: list[str]
    rules: list[str]
    primary: dict[str, Any] | None = Field(description="the pre-declared comparison and its rows")
    sequential: list[dict[str, Any]]
    tables: dict[str, list[TableRow]]
    paired: dict[str, list[dict[str, Any]]]
    equal_compute: dict[str, Any] | None
    preprocessing: dict[str, dict[str, Any]]
    notes: list[str]
