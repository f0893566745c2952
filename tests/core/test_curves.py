"""curve_stats on the examples and seconds axes: interpolation onto a common grid, all phases."""

from __future__ import annotations

import numpy as np
import pytest

from core.stats import summary as stats
from core.stats.curves import MAX_GRID
from tests.core.run_records import record


def test_epoch_axis_keeps_its_rows_and_adds_x() -> None:
    runs = [record("a", r, [1.0 + r, 0.5 + r]) for r in range(3)]
    rows = stats.curve_stats(runs, "a")
    assert [(r["epoch"], r["x"], r["n"], r["median"]) for r in rows] == [
        (1, 1.0, 3, 2.0), (2, 2.0, 3, 1.5)
    ]


def test_seconds_axis_interpolates_onto_the_union_grid_without_extrapolating() -> None:
    fast = record("a", 0, [3.0, 2.0, 1.0], seconds=2.0)  # x = 2, 4, 6
    slow = record("a", 1, [4.0, 3.0, 2.0], seconds=3.0)  # x = 3, 6, 9
    rows = stats.curve_stats([fast, slow], "a", x="seconds_total")
    assert [r["x"] for r in rows] == [2.0, 3.0, 4.0, 6.0, 9.0]
    assert [r["n"] for r in rows] == [1, 2, 2, 2, 1]
    at3 = rows[1]  # fast halfway between 3.0 and 2.0; slow's own first point
    assert (at3["min"], at3["max"]) == (2.5, 4.0)
    assert rows[2]["mean"] == pytest.approx((2.0 + (4.0 - 1.0 / 3)) / 2)
    assert rows[-1]["seconds_total"] == 9.0 and rows[-1]["median"] == 2.0


def test_examples_axis_over_all_phases_shows_pretraining() -> None:
    runs = [record("warm", r, [1.0, 0.8], stages=(1,)) for r in range(2)]
    rows = stats.curve_stats(runs, "warm", phase="all", x="examples_total")
    # stage-1 epoch 0 (nothing trained yet), epoch 1 (50 examples), main epochs (+100 each)
    assert [(r["x"], r["median"]) for r in rows] == [
        (0.0, 3.0), (50.0, 2.9), (150.0, 1.0), (250.0, 0.8)
    ]
    main_only = stats.curve_stats(runs, "warm", x="examples_total")
    assert [r["x"] for r in main_only] == [150.0, 250.0]


def test_many_distinct_x_values_use_an_evenly_spaced_grid() -> None:
    runs = [record("a", r, list(np.linspace(2, 1, 150)), seconds=1 + r / 7) for r in range(3)]
    rows = stats.curve_stats(runs, "a", x="seconds_total")
    xs = np.array([r["x"] for r in rows])
    assert len(rows) == MAX_GRID and np.allclose(np.diff(xs), xs[1] - xs[0])
    assert rows[0]["n"] == 1 and rows[-1]["n"] == 1 and max(r["n"] for r in rows) == 3


def test_bad_axis_and_all_phases_on_epochs_are_refused() -> None:
    runs = [record("a", 0, [1.0])]
    with pytest.raises(ValueError, match="unknown x axis 'steps'; valid choices: epoch"):
        stats.curve_stats(runs, "a", x="steps")
    with pytest.raises(ValueError, match="phase 'all' needs x examples_total or seconds_total"):
        stats.curve_stats(runs, "a", phase="all")
