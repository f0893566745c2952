"""The dashboard's comparison tables lead with the primary and show d_z, relative diff, Holm p."""

from __future__ import annotations

from typing import Any

import pytest

from core.stats import summary as stats
from dashboard.tables import (
    equal_compute_frame,
    paired_frame,
    primary_frame,
    primary_title,
    stopped_early_line,
)
from tests.core.run_records import record

BASE = [1.00, 1.20, 0.90, 1.10, 1.05, 0.95]


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    runs = [record("original", r, [2.0, 1.5, v], preprocess=1) for r, v in enumerate(BASE)]
    # -0.3 on average, not in every repeat: constant differences would be degenerate (no CI).
    runs += [
        record("smart", r, [1.6, 1.2, v - 0.3 + 0.01 * (-1) ** r], stages=(2,))
        for r, v in enumerate(BASE)
    ]
    return stats.summarize(runs, "original")


def test_primary_frame_has_effect_sequence_and_decision(summary: dict[str, Any]) -> None:
    frame = primary_frame(summary)
    row = frame.set_index("Arm").loc["smart"]
    assert row["Mean difference"] == "-0.3000" and row["Relative"] == "-29.0%"
    assert row["Decision"] == "better (after 6 ≥ 4 pairs: may stop)"
    assert row["Sequence"].startswith("[-0.3")
    assert {"d_z", "Holm p", "Paired t p", "95% CI"} <= set(frame.columns)
    # The sequence leads; without stop_when_decided the fixed-n figures are read as fixed n.
    assert list(frame.columns)[:3] == ["Arm", "Sequence", "Decision"]
    assert row["Fixed-n figures"] == "fixed n"
    assert primary_title(summary) == "val loss under rule val_loss"


def test_paired_frame_puts_the_primary_first_and_labels_the_rest(
    summary: dict[str, Any],
) -> None:
    frame = paired_frame(summary, "final")
    assert set(frame["Role"]) == {"secondary (Holm-adjusted)"}
    frame = paired_frame(summary, "val_loss")
    assert list(frame["Role"])[:2] == ["primary", "secondary (Holm-adjusted)"]
    assert (frame.iloc[0]["Split"], frame.iloc[0]["Metric"]) == ("val", "loss")
    assert frame.iloc[0]["Holm p"] != "—"


def test_equal_compute_frame_and_the_stopped_early_line(summary: dict[str, Any]) -> None:
    frame = equal_compute_frame(summary)
    assert len(frame) == 6 and set(frame["Arm"]) == {"smart"}
    assert stopped_early_line({"stopped_early": None}) is None
    line = stopped_early_line({
        "stopped_early": {"reason": "decided: smart better", "runs_saved": 4,
                          "mean_run_hours": 0.5, "hours_saved_estimate": 2.0}
    })
    assert line == (
        "Stopped early, decided: 4 queued run(s) cancelled, about 2.00 worker hours"
        " (estimated). decided: smart better"
    )
