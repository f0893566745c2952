"""The Sweep page's logic without a server: the x axis, figures per point, paired rows, charts."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.charts import paired_sweep_figure, sweep_figure
from dashboard.specs import has_sweep
from dashboard.sweeps import (
    experiments_frame,
    paired_points,
    points_frame,
    spread,
    sweep_axis,
    sweep_points,
)


def experiment(eid: int, **swept: Any) -> dict[str, Any]:
    progress = {"runs_total": 4, "runs_done": 4, "runs_failed": 0, "fraction": 1.0,
                "running": []}
    return {"id": eid, "status": "done", "swept": swept, "progress": progress}


def run(arm: str, repeat: int, val_losses: list[float]) -> dict[str, Any]:
    """A run whose val loss per epoch is given; accuracy is 1 - loss."""
    rows = [{"phase": "main", "epoch": e, "split": "val", "loss": loss, "accuracy": 1 - loss}
            for e, loss in enumerate(val_losses, start=1)]
    return {"arm": arm, "repeat": repeat, "metrics": rows}


def test_one_numeric_path_is_a_numeric_axis_sorted_by_value() -> None:
    axis = sweep_axis([experiment(5, **{"training.lr": 0.01}),
                       experiment(6, **{"training.lr": 0.001})])
    assert axis.numeric and axis.log and axis.title == "training.lr"
    assert axis.order([5, 6]) == [6, 5] and axis.labels == {5: "0.01", 6: "0.001"}
    assert not sweep_axis([experiment(1, seed=1), experiment(2, seed=3)]).log  # span < 10×


def test_several_paths_or_non_numbers_are_categories_in_submission_order() -> None:
    experiments = [experiment(1, **{"training.lr": 0.1, "seed": 1}),
                   experiment(2, **{"training.lr": 0.1, "seed": 2})]
    axis = sweep_axis(experiments)
    assert not axis.numeric and axis.title == "training.lr × seed"
    assert axis.positions == {1: "training.lr=0.1, seed=1", 2: "training.lr=0.1, seed=2"}
    points = [{"experiment": 2, "arm": "a", "n": 1, "median": 0.5, "low": 0.5, "high": 0.5}]
    table = points_frame(points, experiments, axis, "loss")  # one column per swept path
    assert table.iloc[0][["Experiment", "training.lr", "seed", "Arm"]].tolist() == [2, "0.1",
                                                                                    "2", "a"]
    flags = sweep_axis([experiment(3, **{"dataset.augment": True}),
                        experiment(4, **{"dataset.augment": False})])
    assert not flags.numeric and flags.labels == {3: "true", 4: "false"}


def test_each_point_has_the_median_and_band_of_its_repeats_selected_figures() -> None:
    experiments = [experiment(1, **{"training.lr": 0.1}), experiment(2, **{"training.lr": 0.2})]
    runs = {
        1: [run("a", 0, [0.9, 0.5, 0.7]), run("a", 1, [0.8, 0.6]), run("a", 2, [0.4, 0.9]),
            run("b", 0, [0.3])],
        2: [],
    }
    points = sweep_points(experiments, runs, ["a", "b"], rule="val_loss", split="val",
                          metric="loss", band="minmax")
    by_key = {(p["experiment"], p["arm"]): p for p in points}
    assert by_key[1, "a"] == {"experiment": 1, "arm": "a", "n": 3, "median": 0.5, "low": 0.4,
                              "high": 0.6}
    assert by_key[1, "b"]["n"] == 1 and by_key[2, "a"]["median"] is None
    final = sweep_points(experiments, runs, ["a"], rule="final", split="val",
                         metric="accuracy", band="iqr")
    assert final[0]["median"] == pytest.approx(30.0)  # 1 - 0.7, in %
    table = points_frame(points, experiments, sweep_axis(experiments), "loss")
    assert table.columns.tolist() == ["Experiment", "training.lr", "Arm", "n", "Median",
                                      "Band low", "Band high"]
    assert table["Median"].tolist() == ["0.5000", "0.3000", "—", "—"]
    with pytest.raises(ValueError, match="valid choices: iqr, minmax, p10p90"):
        spread([1.0], "std")


def test_paired_rows_follow_the_chosen_rule_split_and_metric() -> None:
    def row(rule: str, split: str, metric: str, diff: float) -> dict[str, Any]:
        return {"arm": "b", "baseline": "a", "rule": rule, "split": split, "metric": metric,
                "n": 3, "mean_diff": diff, "ci95_low": diff - 0.1, "ci95_high": diff + 0.1,
                "t_p": 0.2, "wilcoxon_p": 0.25, "win_rate": 1.0}

    summary = {"paired": {"val_loss": [row("val_loss", "val", "loss", -0.2),
                                       row("val_loss", "test", "loss", 0.5),
                                       row("val_loss", "val", "accuracy", 3.0)]}}
    experiments = [experiment(1, seed=1), experiment(2, seed=2)]
    points = paired_points(experiments, {1: summary, 2: None}, rule="val_loss", split="val",
                           metric="loss")
    assert [(p["experiment"], p["mean_diff"]) for p in points] == [(1, -0.2)]
    fig = paired_sweep_figure(points, sweep_axis(experiments), ["a", "b"], title="t",
                              y_label="d").to_dict()
    trace = fig["data"][0]
    assert trace["name"] == "b − a" and list(trace["x"]) == [1.0]
    assert list(fig["layout"]["xaxis"]["ticktext"]) == ["1", "2"]  # a tick per swept value
    assert list(trace["error_y"]["array"]) == pytest.approx([0.1])


def test_sweep_figure_bands_skip_points_of_one_run_and_keep_the_category_order() -> None:
    experiments = [experiment(i, opt=name) for i, name in enumerate(["sgd", "adam", "lamb"])]
    points = [{"experiment": i, "arm": "a", "n": n, "median": 1.0, "low": 0.5, "high": 1.5}
              for i, n in enumerate([2, 1, 3])]
    axis = sweep_axis(experiments)
    fig = sweep_figure(points, axis, ["a"], title="t", y_label="y", band_label="IQR").to_dict()
    bands = [t for t in fig["data"] if t.get("fill") == "toself"]
    assert [list(t["x"]) for t in bands] == [["sgd", "sgd"], ["lamb", "lamb"]]
    assert fig["layout"]["xaxis"]["type"] == "category"
    assert list(fig["layout"]["xaxis"]["categoryarray"]) == ["sgd", "adam", "lamb"]
    frame = experiments_frame(experiments, axis)
    assert frame["opt"].tolist() == ["sgd", "adam", "lamb"]
    assert frame["Open"].tolist() == ["/?experiment=0", "/?experiment=1", "/?experiment=2"]


def test_a_spec_with_a_sweep_block_is_recognised() -> None:
    assert has_sweep("name: x\nsweep:\n  training.lr: [0.1, 0.01]\n")
    assert not has_sweep("name: x\nsweep: {}\n") and not has_sweep("name: [x\n")
