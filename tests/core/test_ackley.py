"""Fig. 1: the meshes, the descents, the success rates and `initlab ackley`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from core.paper.ackley import (
    BOUND,
    Mesh,
    ackley,
    ackley_gradient,
    descend,
    run_ackley,
)
from initlab.commands import ackley as ackley_command


def test_ackley_has_its_global_minimum_at_the_origin() -> None:
    assert ackley(0.0, 0.0) == pytest.approx(0.0, abs=1e-12)
    grid = np.linspace(-BOUND, BOUND, 301)
    x, y = np.meshgrid(grid, grid)
    assert float(np.min(ackley(x, y))) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("point", [(0.3, -0.7), (1.1, 0.2), (-1.4, 1.3)])
def test_gradients_match_finite_differences(point: tuple[float, float]) -> None:
    p, h = np.array(point), 1e-6
    mesh = Mesh(8)
    for fun, grad in (
        (lambda q: float(ackley(q[0], q[1])), ackley_gradient),
        (mesh.value, mesh.gradient),
    ):
        numeric = [
            (fun(p + e) - fun(p - e)) / (2 * h) for e in (np.array([h, 0]), np.array([0, h]))
        ]
        assert grad(p) == pytest.approx(numeric, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("side, points", [(8, 64), (100, 10_000)])
def test_meshes_interpolate_ackley_linearly_on_their_triangles(side: int, points: int) -> None:
    mesh = Mesh(side)
    assert mesh.z.size == points
    assert len(mesh.triangles()) == 2 * (side - 1) ** 2
    for i, j in ((0, 0), (side // 2, side // 3), (side - 1, side - 1)):
        vertex = np.array([mesh.axis[i], mesh.axis[j]])
        assert mesh.value(vertex) == pytest.approx(float(ackley(*vertex)))
    # The middle of an edge is the mean of its two end points.
    a, b = np.array([mesh.axis[1], mesh.axis[2]]), np.array([mesh.axis[2], mesh.axis[2]])
    assert mesh.value((a + b) / 2) == pytest.approx((mesh.value(a) + mesh.value(b)) / 2)


def test_the_simplified_function_has_no_minimum_at_the_origin_grid_point() -> None:
    # 8 points on [-1.5, 1.5] miss 0: the coarse minimum sits on the 4 vertices around it.
    mesh = Mesh(8)
    i, j = np.unravel_index(np.argmin(mesh.z), mesh.z.shape)
    assert abs(mesh.axis[i]) == abs(mesh.axis[j]) == pytest.approx(1.5 / 7)


def test_local_descent_stays_in_its_basin() -> None:
    near = descend(
        lambda q: float(ackley(q[0], q[1])), ackley_gradient, np.array([0.3, 0.2]), "trust-constr"
    )
    far = descend(
        lambda q: float(ackley(q[0], q[1])), ackley_gradient, np.array([1.1, 0.9]), "trust-constr"
    )
    assert np.hypot(*near) < 1e-3
    assert np.hypot(*far) > 0.9  # stuck in the local minimum near (1, 1)


def test_smart_start_beats_random_start_and_is_reproducible() -> None:
    result = run_ackley(10, seed=3)
    assert len(result.trials) == 10
    assert 0 <= result.random_start_success < 0.5 < result.smart_start_success <= 1
    assert set(result.to_json()) == {
        "trials",
        "random_start_success",
        "smart_start_success",
        "tolerance",
    }
    # The same seed draws the same starts: a shorter run repeats the first trials exactly.
    again = run_ackley(2, seed=3).trials
    for first, second in zip(result.trials, again, strict=False):
        assert np.array_equal(first.start, second.start)
        assert np.array_equal(first.smart_end, second.smart_end)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="valid choices: trust-constr, L-BFGS-B"):
        run_ackley(2, method="newton")
    with pytest.raises(ValueError, match="at least 1"):
        run_ackley(0)


def test_cli_prints_json_and_writes_both_plots(tmp_path: Path) -> None:
    app = typer.Typer()
    ackley_command.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `ackley` a named subcommand
    out = tmp_path / "fig1"
    result = CliRunner().invoke(
        app, ["ackley", "--trials", "4", "--json", "--seed", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["trials"] == 4 and data["tolerance"] == 0.05
    assert 0 <= data["random_start_success"] <= 1 and 0 <= data["smart_start_success"] <= 1
    assert (out / "ackley.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "ackley.html").read_text()
    assert "Plotly.newPlot" in html and '<script src="http' not in html  # works offline
