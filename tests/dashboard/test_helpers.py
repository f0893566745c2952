"""Dashboard logic without a server: figures, exports, spec errors, costs, the metric store."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.paper.presets import get_preset
from core.reports.tables import to_latex
from core.spec import parse_spec
from core.stats.run_lines import run_lines, thin
from dashboard.charts import CurveView, curve_series, ema, plotly_figure
from dashboard.client import ApiError, ApiUnavailable, Client, Config
from dashboard.curve_settings import from_query, lr_panel, panels, to_query, view_of
from dashboard.export import figure_bytes, table_text
from dashboard.live import MetricStore, runs_from_rows
from dashboard.runs_tab import filtered
from dashboard.specs import annotate, cost_rows, cost_total, field_errors, locate, syntax_error
from dashboard.tables import at_epoch_rows, init_schemes, runs_frame, split_frames, with_table


def point(epoch: int, n: int, centre: float) -> dict[str, Any]:
    return {"epoch": epoch, "n": n, "median": centre, "mean": centre + 0.01,
            "low": centre - 0.1, "high": centre + 0.1}


CURVES = {"arms": {
    "original": [point(1, 3, 2.0), point(2, 3, 1.8), point(3, 1, 1.7), point(4, 1, 1.6)],
    "smart": [point(1, 2, 1.9), point(2, 1, 1.7), point(3, 2, 1.5)],
}}


def metric_row(i: int, arm: str, repeat: int, epoch: int, split: str = "val",
               loss: float = 1.0, phase: str = "main") -> dict[str, Any]:
    return {"id": i, "run_id": 10 * repeat + len(arm), "arm": arm, "repeat": repeat,
            "phase": phase, "epoch": epoch, "split": split, "loss": loss, "accuracy": 0.5}


def test_bands_stop_where_fewer_than_two_runs_reached() -> None:
    series = curve_series(CURVES, CurveView(), ["original", "smart"])
    original, smart = series
    assert [seg[0] for seg in original.segments] == [[1, 2]]  # epochs 3–4 had one run
    assert [seg[0] for seg in smart.segments] == [[1], [3]]  # a gap where n fell to 1
    assert original.xs == [1, 2, 3, 4]  # the centre line goes on


def test_plotly_figure_one_colour_per_arm_and_n_on_hover() -> None:
    view = CurveView(log_y=True, x_from=2)
    fig = plotly_figure(curve_series(CURVES, view, ["original", "smart"]), view)
    centres = [t for t in fig.data if t.mode == "lines+markers"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [t.name for t in centres] == ["original", "smart"]
    assert centres[0].line.color != centres[1].line.color
    assert bands[0].fillcolor.startswith("rgba(0,114,178")  # the band has its arm's colour
    assert "n = %{customdata[0]}" in centres[0].hovertemplate
    assert [c[0] for c in centres[0].customdata] == [3, 1, 1]
    assert min(centres[0].x) == 2  # from epoch k
    assert fig.layout.yaxis.type == "log"


def test_overlay_draws_each_run_and_accuracy_in_percent() -> None:
    rows = [metric_row(i, "smart", r, e) for i, (r, e) in enumerate(
        [(0, 1), (0, 2), (1, 1), (1, 2)])]
    view = CurveView(metric="accuracy", overlay=True)
    lines = {"arms": {"smart": run_lines(runs_from_rows(rows), "smart", metric="accuracy")}}
    series = curve_series({"arms": {"smart": [point(1, 2, 0.5)]}}, view, ["smart"], lines)
    assert series[0].centre == [50.0]
    assert series[0].runs == {0: ([1, 2], [50.0, 50.0]), 1: ([1, 2], [50.0, 50.0])}
    fig = plotly_figure(series, view)
    runs = [t for t in fig.data if t.opacity == 0.35]
    assert [t.name for t in runs] == ["smart, repeat 0", "smart, repeat 1"]  # (arm, repeat)
    assert fig.layout.hovermode == "x unified"  # every arm's value and n at one x


def test_examples_axis_ema_and_labels() -> None:
    curves = {"arms": {"a": [{**point(1, 2, 2.0), "x": 500.0}, {**point(2, 2, 1.0), "x": 1500.0},
                             {**point(3, 2, 1.0), "x": 2500.0}]}}
    view = CurveView(x="examples_total", smoothing=0.5, x_from=1000)
    (s,) = curve_series(curves, view, ["a"])
    assert s.xs == [1500.0, 2500.0]  # x, not the epoch; from x 1000 on
    assert s.centre == [1.0, 1.0]
    assert ema([2.0, 1.0, None, 1.0], 0.5) == [2.0, 1.5, None, 1.25]
    with pytest.raises(ValueError, match="EMA weight"):
        ema([1.0], 1.0)
    fig = plotly_figure(curve_series(curves, CurveView(x="examples_total"), ["a"]),
                        CurveView(x="examples_total", smoothing=0.5))
    assert fig.layout.xaxis.title.text == "examples trained on (all phases)"
    assert "EMA 0.5" in fig.layout.title.text


def test_curve_settings_round_trip_through_the_url() -> None:
    query = {"x": "examples_total", "ema": "0.6", "runs": "1", "layout": "single",
             "band": "nonsense", "from": "-3", "experiment": "2"}
    settings = from_query(query)
    assert (settings["x"], settings["ema"], settings["runs"], settings["layout"]) == (
        "examples_total", 0.6, True, "single")
    assert settings["band"] == "iqr" and settings["from"] == 0.0  # bad values: defaults
    assert to_query(settings) == {"layout": "single", "x": "examples_total", "ema": "0.6",
                                  "runs": "1"}
    assert from_query(to_query(settings)) == settings
    grid = panels(view_of(settings))
    assert [(v.metric, v.split) for v in grid] == [
        (m, s) for m in ("loss", "accuracy") for s in ("train", "val", "test")]
    assert lr_panel(view_of({**settings, "phase": "stage-1"})).split == "sample"


def test_run_lines_are_thinned_keeping_both_ends() -> None:
    xs, ys = thin(list(range(1000)), list(range(1000)), 200)
    assert len(xs) == 200 and xs[0] == 0 and xs[-1] == 999
    rows = [metric_row(i, "a", 0, e) for i, e in enumerate(range(1, 501))]
    (line,) = run_lines(runs_from_rows(rows), "a", points=50)
    assert line["repeat"] == 0 and len(line["x"]) == 50 and line["x"][-1] == 500
    with pytest.raises(ValueError, match="valid choices"):
        run_lines([], "a", x="steps")


def test_runs_table_has_init_host_duration_and_selected_figures_and_filters() -> None:
    runs = [{"id": i, "arm": arm, "repeat": 0, "status": status, "attempt": 2,
             "host": "gpu-1", "device_name": "cuda:0", "started": "2026-01-01T00:00:00Z",
             "finished": "2026-01-01T00:01:30Z", "worker": "w", "error": None}
            for i, arm, status in ((1, "original", "done"), (2, "smart", "failed"))]
    selected = [{"arm": "original", "repeat": 0, "splits": {
        "val": {"loss": 0.5, "accuracy": 0.9, "loss_epoch": 7},
        "test": {"loss": 0.6, "accuracy": 0.85, "loss_epoch": 7}}}]
    inits = init_schemes({"arms": [{"name": "original"}, {"name": "smart", "init": "kaiming"}]})
    frame = runs_frame(runs, selected, inits)
    first = frame.iloc[0]
    assert (first["Init"], first["Duration (s)"], first["Selected epoch"]) == ("pytorch", 90.0, 7)
    assert (first["Val acc %"], first["Host"], first["Device"]) == (90.0, "gpu-1", "cuda:0")
    assert frame.iloc[1]["Init"] == "kaiming"
    assert filtered(frame, "", ["failed"], [])["Arm"].tolist() == ["smart"]
    assert filtered(frame, "KAIMING", [], [])["Run"].tolist() == [2]
    assert len(filtered(frame, "", [], [])) == 2


def test_runs_table_shows_tags_and_notes_and_the_filter_finds_them() -> None:
    runs = [{"id": i, "arm": "a", "repeat": i, "status": "done", "attempt": 1, "tags": tags,
             "notes": notes} for i, tags, notes in ((1, ["gpu-7", "odd"], "Loss spike at 3"),
                                                    (2, [], None))]
    frame = runs_frame(runs)
    assert frame["Tags"].tolist() == ["gpu-7 odd", ""]
    assert frame["Notes"].tolist() == ["Loss spike at 3", ""]
    assert filtered(frame, "GPU-7", [], [])["Run"].tolist() == [1]
    assert filtered(frame, "loss spike", [], [])["Run"].tolist() == [1]
    assert filtered(frame, "no such words", [], [])["Run"].tolist() == []


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_figure_export_works_offline(fmt: str, magic: bytes) -> None:
    view = CurveView(overlay=True)
    data = figure_bytes(curve_series(CURVES, view, ["original", "smart"]), view, fmt)
    assert magic in data[:400]
    with pytest.raises(ValueError, match="valid choices"):
        figure_bytes([], view, "jpg")


def empty_summary() -> dict[str, Any]:
    return {"baseline": "original", "arms": ["original", "smart"], "rules": [], "tables": {},
            "paired": {}, "preprocessing": {}, "notes": []}


def test_tables_at_an_epoch_export_as_csv_markdown_and_booktabs() -> None:
    rows = [metric_row(i, arm, r, e, split, loss=1.0 + r + e / 10)
            for i, (arm, r, e, split) in enumerate(
                (a, r, e, s) for a in ("original", "smart") for r in range(3)
                for e in (1, 2) for s in ("val", "test"))]
    table = at_epoch_rows(rows, ["original", "smart"], 2, "epoch 2")
    assert [(t["arm"], t["split"], t["n"]) for t in table] == [
        ("original", "val", 3), ("original", "test", 3), ("smart", "val", 3), ("smart", "test", 3)]
    assert table[0]["loss_mean"] == pytest.approx(2.2) and table[0]["acc_mean"] == 50.0
    summary = with_table(empty_summary(), "epoch 2", table)
    frames = split_frames(summary["tables"]["epoch 2"])
    assert list(frames) == ["val", "test"]
    assert list(frames["val"]["Arm"]) == ["original", "smart"]
    assert frames["val"]["Loss (mean ± s.t.d.)"][0] == "2.200 ± 1.000"
    assert "rule,arm,split,statistic" in table_text(summary, "csv")
    assert "| Loss (mean) |" in table_text(summary, "md")
    latex = table_text(summary, "tex")
    assert latex == to_latex(summary) and r"\toprule" in latex and r"\bottomrule" in latex


SPEC = """name: x
model: small_cnn
dataset:
  name: digits
training:
  epochs: 0
arms:
  - name: original
    method: original
  - name: smart
    method: smart_init
    stages:
      - {fraction: 2, epochs: 1}
"""


def test_errors_are_placed_on_the_line_of_their_field() -> None:
    assert locate(SPEC, "training.epochs") == 6
    assert locate(SPEC, "arms.1.stages.0.fraction") == 13
    assert locate(SPEC, "arms.smart.stages") == 12  # arms named instead of indexed
    assert locate(SPEC, "dataset.root") == 3  # the deepest part present
    errors = field_errors(SPEC, ["training.epochs: Input should be greater than or equal to 1",
                                 "spec: something general"])
    assert [(e.path, e.line) for e in errors] == [("training.epochs", 6), ("spec", None)]
    marked = annotate(SPEC, errors).splitlines()
    assert marked[5].startswith(">>") and "# <- training.epochs: Input should" in marked[5]
    assert syntax_error("a: [1, 2\nb: 3\n").line == 2  # type: ignore[union-attr]
    assert syntax_error("- just\n- a list\n").message.startswith("expected a mapping")  # type: ignore[union-attr]
    assert syntax_error(SPEC) is None


def test_cost_estimate_counts_epochs_runs_and_examples() -> None:
    spec = get_preset("demo-digits")
    rows = cost_rows(spec)
    by_arm = {r["Arm"]: r for r in rows}
    assert by_arm["smart-init"]["Epochs × runs"] == (10 + 15) * 5
    assert by_arm["smart-init"]["Full-data epochs × runs"] == pytest.approx((0.05 * 5 + 0.25 * 5
                                                                            + 15) * 5)
    assert by_arm["original"]["Example-epochs"] == 15 * 5 * 1078
    total = cost_total(rows)
    assert total["runs"] == 15 and total["epochs"] == 75 + 125 + 150
    limited = parse_spec({**spec.model_dump(exclude_none=True),
                          "dataset": {"name": "digits", "limit_train": 100}})
    assert cost_rows(limited)[0]["Example-epochs"] == 15 * 5 * 100


class FakeSource:
    """Serves rows by cursor as the API does and records each request's cursor."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows, self.afters = rows, []

    def metrics(self, experiment_id: int, after: int = 0, limit: int = 10_000, *,
                live: bool = False) -> dict[str, Any]:
        self.afters.append(after)
        items = [r for r in self.rows if r["id"] > after][:limit]
        return {"items": items, "next_cursor": items[-1]["id"] if items else after}


def test_metric_store_fetches_only_rows_after_its_cursor() -> None:
    source = FakeSource([metric_row(i, "original", 0, i) for i in range(1, 6)])
    store = MetricStore(7)
    assert store.update(source, limit=2) == 5  # three pages in one refresh
    assert source.afters == [0, 2, 4] and store.cursor == 5
    assert store.update(source) == 0 and source.afters[-1] == 5
    source.rows.append({**metric_row(6, "original", 0, 5), "loss": 0.1})  # epoch 5 again
    assert store.update(source) == 1
    assert len(store.rows) == 5 and store.rows[-1]["loss"] == 0.1  # the re-recorded row wins
    source.rows.append(metric_row(7, "original", 0, 0, phase="stage-1"))
    store.update(source)
    assert store.phases() == ["main", "stage-1"]
    runs = runs_from_rows(store.rows)
    assert [(r["arm"], r["repeat"], len(r["metrics"])) for r in runs] == [("original", 0, 6)]


def test_client_reports_an_unreachable_api_with_short_timeouts_and_errors_by_line() -> None:
    with pytest.raises(ApiUnavailable, match="unreachable"):
        Client(Config("http://127.0.0.1:9", None)).experiments()
    # "Quickly" is the timeouts every request carries, not a measured duration.
    timeouts: list[dict[str, float]] = []

    def timed(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(200, json={"items": [], "total": 0})

    Client(Config("http://api", None), transport=httpx.MockTransport(timed)).experiments()
    assert timeouts and all(0 < t["connect"] <= 2 and 0 < t["read"] <= 5 for t in timeouts)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer secret"
        if request.url.path.endswith("/presets"):
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(422, json={"detail": ["repeats: too small", "model: unknown"]})

    client = Client(Config("http://api", "secret"), transport=httpx.MockTransport(handler))
    assert client.presets() is None  # no preset endpoint: the page uses core.paper.presets
    with pytest.raises(ApiError) as error:
        client.submit("name: x", dry_run=True)
    assert error.value.status == 422 and error.value.lines == ["repeats: too small",
                                                                "model: unknown"]
