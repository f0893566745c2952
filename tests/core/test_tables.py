"""core.reports.tables renders summarize() output as CSV, Markdown and LaTeX with the right
figures."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest

from core.reports import tables
from core.stats import summary as stats


def make_run(arm: str, repeat: int, losses: list[float], accs: list[float]) -> dict[str, Any]:
    """A finished run with val, test and train measured at epochs 1..E."""
    metrics = [
        {"phase": "main", "epoch": e + 1, "split": split, "loss": loss + shift, "accuracy": acc}
        for split, shift in (("val", 0.0), ("test", 0.05), ("train", -0.3))
        for e, (loss, acc) in enumerate(zip(losses, accs, strict=True))
    ]
    wall = {"main": 200.0, "preprocess": 4.0 if arm == "smart_init" else 50.0}
    run = {"arm": arm, "repeat": repeat, "status": "done", "wall_seconds": wall}
    return run | {"metrics": metrics}


RUNS = [
    make_run("original", 0, [2.0, 1.5, 1.6], [0.30, 0.41, 0.40]),
    make_run("original", 1, [2.1, 1.7, 1.8], [0.28, 0.35, 0.37]),
    make_run("smart_init", 0, [1.8, 1.2, 1.4], [0.35, 0.46, 0.48]),
    make_run("smart_init", 1, [1.9, 1.6, 1.3], [0.33, 0.42, 0.47]),
]


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return stats.summarize(RUNS, "original")


def test_csv_rows_and_columns(summary: dict[str, Any]) -> None:
    rows = tables.summary_csv_rows(summary)
    assert len(rows) == 3 * 2 * 3 * 4  # rules × arms × splits × statistics
    parsed = list(csv.DictReader(io.StringIO(tables.to_csv(summary))))
    assert list(parsed[0]) == ["rule", "arm", "split", "statistic", "loss", "accuracy", "epoch"]
    paired = tables.paired_csv_rows(summary)
    # rules × compared arms × splits × paired statistics (wins, ties, losses, wilcoxon_n: issue 23)
    assert len(paired) == 3 * 1 * 3 * 14
    assert len(parsed) == len(rows) + len(paired) and parsed[len(rows):] == [
        {k: "" if r.get(k) is None else str(r[k]) for k in tables.CSV_COLUMNS} for r in paired
    ]
    primary = summary["primary"]["rows"][0]
    by_stat = {r["statistic"]: r for r in paired if (r["rule"], r["split"]) == ("val_loss", "val")}
    for statistic, key in (("d_z", "d_z"), ("p_holm", "p_holm"), ("diff_mean", "mean_diff")):
        assert by_stat[statistic]["loss"] == primary[key]
    assert by_stat["relative_diff"]["loss"] == primary["relative_diff"]
    by_key = {(r["rule"], r["arm"], r["split"], r["statistic"]): r for r in parsed}
    # val_loss, smart_init, val: epochs 2 (1.2, 46%) and 3 (1.3, 47%)
    mean = by_key["val_loss", "smart_init", "val", "mean"]
    assert float(mean["loss"]) == pytest.approx(1.25)
    assert float(mean["accuracy"]) == pytest.approx(46.5)
    assert float(mean["epoch"]) == pytest.approx(2.5)
    std = by_key["val_loss", "smart_init", "val", "std"]
    assert float(std["loss"]) == pytest.approx(np.std([1.2, 1.3], ddof=1))
    assert by_key["paper", "original", "val", "n"]["loss"] == "2"
    # paper: original val max accuracy 41% and 37% (epochs 2 and 3), population std 2.
    paper_std = by_key["paper", "original", "val", "std"]
    assert float(paper_std["accuracy"]) == pytest.approx(2.0)


def test_csv_leaves_undefined_cells_empty() -> None:
    one = stats.summarize(RUNS[:1], None, rules=("final",))
    text = tables.to_csv(one)
    assert "final,original,val,std,,," in text


def test_markdown_layout_and_numbers(summary: dict[str, Any]) -> None:
    text = tables.to_markdown(summary)
    assert text.count("| Value |") == 3
    for label in ("Loss (mean)", "Loss s.t.d.", "Loss (median)", "Accuracy (mean)"):
        assert f"| {label} |" in text
    assert "| Accuracy s.t.d. |" in text and "| Epoch taken (loss) |" in text
    assert "(paper's arithmetic — optimistic: picks the accuracy epoch on the reported set)" in text
    header = "| Value | original (validation) | smart_init (validation) | original (test) |"
    assert header in text
    # val_loss, validation: original 1.5 and 1.7 -> 1.600; smart_init 1.250; accuracy 46.500
    assert "| Loss (mean) | 1.600 | 1.250 |" in text
    assert "| Accuracy (mean) | 38.000 | 46.500 |" in text
    assert "| Epoch taken (loss) | 2.00 | 2.50 |" in text
    paired = summary["paired"]["val_loss"][0]
    assert f"| {paired['mean_diff']:.3f} |" in text
    assert "Paired difference to original" in text
    assert "| smart_init | 2 | 4.0 | 200.0 | 2.0% |" in text
    assert "| original | 2 | 50.0 | 200.0 | 25.0% |" in text


def test_markdown_shows_missing_values_as_a_dash() -> None:
    text = tables.to_markdown(stats.summarize(RUNS[:1], None, rules=("final",)))
    assert "| Loss s.t.d. | — |" in text
    assert "Paired difference" not in text


def test_latex_uses_booktabs_and_escapes(summary: dict[str, Any]) -> None:
    text = tables.to_latex(summary)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        # primary, its sequence, three rule tables, secondary paired, preprocessing
        assert text.count(rule) == 7
    assert r"smart\_init (validation)" in text and "smart_init" not in text
    assert r"Loss (mean) & 1.600 & 1.250 &" in text
    assert r"2.0\%" in text and "optimistic" in text and "---" in text
    assert text.count(r"\begin{tabular}") == text.count(r"\end{tabular}") == 7
    assert r"d\_z" in text and "Holm p" in text
