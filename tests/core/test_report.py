"""`initlab report RESULTS_DIR`: tables per rule with paired statistics, and Figs. 2–5 files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from core.reports.report import load_results, render_report, report_figures
from initlab.commands import report as report_command

SPEC = {
    "name": "tiny",
    "model": "small_cnn",
    "dataset": {"name": "digits"},
    "training": {"epochs": 6},
    "arms": [
        {"name": "original", "method": "original", "preprocess_epochs": 1},
        {"name": "smart-init", "method": "smart_init", "stages": [{"fraction": 0.1, "epochs": 2}]},
    ],
    "repeats": 4,
}


def val_loss(epoch: int, repeat: int, arm: str) -> float:
    """Lowest at epoch 5 for every run; smart-init exactly 0.05 below original in each repeat."""
    return (
        1.0 - 0.1 * min(epoch, 5) + 0.05 * (epoch == 6) + 0.01 * repeat - 0.05 * (arm != "original")
    )


def row(phase: str, epoch: int, split: str, loss: float, accuracy: float) -> dict[str, Any]:
    return {"phase": phase, "epoch": epoch, "split": split, "loss": loss, "accuracy": accuracy}


def make_run(arm: str, repeat: int, status: str = "done") -> dict[str, Any]:
    metrics = []
    if arm == "smart-init":
        for epoch in range(3):
            metrics += [
                row("stage-1", epoch, s, 2.0 - 0.3 * epoch, 0.2 * epoch) for s in ("sample", "val")
            ]
    for epoch in range(1, 7):
        loss = val_loss(epoch, repeat, arm)
        metrics += [
            row("main", epoch, "train", loss - 0.3, 0.5 + 0.05 * epoch),
            row("main", epoch, "val", loss, 0.4 + 0.05 * epoch),
            row("main", epoch, "test", loss + 0.1, 0.35 + 0.05 * epoch),
        ]
    wall = {"preprocess": 1.0, "main": 10.0}
    return {
        "arm": arm,
        "repeat": repeat,
        "status": status,
        "wall_seconds": wall,
        "metrics": metrics,
    }


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    runs = [make_run(arm, r) for r in range(4) for arm in ("original", "smart-init")]
    runs.append(make_run("original", 4, status="running"))
    (tmp_path / "results.json").write_text(json.dumps({"spec": SPEC, "runs": runs}))
    return tmp_path


def invoke(*args: str) -> Any:
    app = typer.Typer()
    report_command.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `report` a named subcommand
    return CliRunner().invoke(app, ["report", *args])


def test_markdown_has_every_rule_paired_statistics_and_the_protocol(results_dir: Path) -> None:
    result = invoke(str(results_dir))
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("# Report: tiny")
    for title in ("Rule val_loss", "Rule final", "Rule paper", "Paired difference to original"):
        assert title in text
    assert "optimistic" in text
    assert "8 of 9 runs finished are summarised" in text  # the running run is left out
    assert "smart-init (smart_init: 10% × 2)" in text
    # Smart-init is 0.05 below the baseline in every repeat: mean diff -0.05, 4 wins of 4.
    # The primary comparison (val loss under val_loss) leads; the rest is secondary.
    primary = text.index("### Primary comparison: validation loss under rule val_loss")
    assert primary < text.index("### Rule val_loss") < text.index("secondary comparisons")
    row = next(line for line in text.splitlines()[text[:primary].count("\n") :]
               if line.startswith("| smart-init |"))
    assert "-0.050" in row and ("better" in row or "undecided" in row)
    paired = [
        line for line in text.splitlines() if line.startswith("| final | validation | loss")
    ]
    assert paired and "-0.050" in paired[0] and "4/0/0" in paired[0]  # wins/ties/losses
    assert "| val_loss | validation | loss" not in text  # the primary is not repeated there


def test_select_restricts_to_one_rule_and_csv_has_the_selected_epoch(results_dir: Path) -> None:
    result = invoke(str(results_dir), "--format", "csv", "--select", "val_loss")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["rule"] for r in rows} == {"val_loss"}
    mean = next(
        r for r in rows if (r["arm"], r["split"], r["statistic"]) == ("original", "val", "mean")
    )
    assert float(mean["loss"]) == pytest.approx(0.5 + 0.015)  # epoch 5, repeats 0..3
    assert float(mean["epoch"]) == 5
    assert float(mean["accuracy"]) == pytest.approx(65.0)


def test_latex_and_paper_rule(results_dir: Path) -> None:
    spec, runs = load_results(results_dir)
    text = render_report(spec, runs, "latex", "paper")
    assert text.startswith("% Report: tiny")
    assert r"\begin{table}" in text and "optimistic" in text and "Rule val" not in text


def test_figures_are_written_as_png_and_svg(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    result = invoke(
        str(results_dir), "--figures", str(out), "--from-epoch", "3", "--band", "minmax"
    )
    assert result.exit_code == 0, result.output
    for stem in ("curves-main", "curves-stage-1"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in (out / f"{stem}.svg").read_text()[:500]


def test_report_figures_band_choices(results_dir: Path, tmp_path: Path) -> None:
    spec, runs = load_results(results_dir)
    assert len(report_figures(spec, runs, tmp_path / "f", band="p10p90")) == 4
    with pytest.raises(ValueError, match="valid choices: iqr, minmax, p10p90"):
        report_figures(spec, runs, tmp_path / "g", band="std-ish")


def test_bad_options_and_missing_results_are_refused(results_dir: Path, tmp_path: Path) -> None:
    assert invoke(str(results_dir), "--format", "html").exit_code == 2
    assert invoke(str(results_dir), "--select", "best").exit_code == 2
    assert invoke(str(results_dir), "--band", "std").exit_code == 2
    with pytest.raises(FileNotFoundError, match="results.json"):
        load_results(tmp_path / "empty")
    with pytest.raises(ValueError, match="valid choices: md, csv, latex"):
        render_report(SPEC, [], "html")
