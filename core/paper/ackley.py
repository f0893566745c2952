"""Fig. 1: local descent on the Ackley function from a random start vs from a simplified minimum.

The simplified function is the piecewise-linear interpolation of Ackley on the triangulated
8×8 (64-point) grid over [-1.5, 1.5]² (each cell cut along its anti-diagonal). The original is
the analytic Ackley function; its 100×100 (10,000-point) mesh is only drawn. Descent is
`scipy.optimize.minimize` with `trust-constr` inside the bounds and an initial trust radius of
0.05, a genuinely local method. (L-BFGS-B's first step is one unit long — the width of an
Ackley basin — so it often leaps over local minima; `method="L-BFGS-B"` shows that.)

A trial draws one uniform start p in the square. Random start: descend the original from p.
Smart start: descend the simplified function from p, project its minimiser onto the original
(only z changes) and descend the original from there. Success: ending within `tolerance` of
the global minimum (0, 0).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

BOUND = 1.5  # the square [-BOUND, BOUND]²
SIMPLE_SIDE = 8  # 8×8 = 64 points: the simplified function (Fig. 1, left)
ORIGINAL_SIDE = 100  # 100×100 = 10,000 points: the original's surface (Fig. 1, right)
TOLERANCE = 0.05  # the other local minima lie about 0.95 or more from (0, 0)
METHODS = ("trust-constr", "L-BFGS-B")
TRUST_RADIUS = 0.05  # trust-constr's first step: small next to a basin's width of about 1

Vector = np.ndarray


def ackley(x: Any, y: Any) -> Any:
    """Ackley's function (a = 20, b = 0.2, c = 2π) on scalars or arrays."""
    r = np.sqrt(0.5 * (np.square(x) + np.square(y)))
    waves = 0.5 * (np.cos(2 * np.pi * x) + np.cos(2 * np.pi * y))
    return 20 + math.e - 20 * np.exp(-0.2 * r) - np.exp(waves)


def _ackley_at(p: Vector) -> float:
    return float(ackley(p[0], p[1]))


def ackley_gradient(p: Vector) -> Vector:
    """The gradient of Ackley at p (0 at the origin, where it is a cone's tip)."""
    x, y = float(p[0]), float(p[1])
    r = math.sqrt(0.5 * (x * x + y * y))
    cone = 2 * math.exp(-0.2 * r) / r if r > 0 else 0.0
    waves = math.pi * math.exp(0.5 * (math.cos(2 * math.pi * x) + math.cos(2 * math.pi * y)))
    return np.array(
        [cone * x + waves * math.sin(2 * math.pi * x), cone * y + waves * math.sin(2 * math.pi * y)]
    )


class Mesh:
    """Ackley sampled on a side×side grid, interpolated linearly on the grid's triangles."""

    def __init__(self, side: int) -> None:
        self.side = side
        self.axis = np.linspace(-BOUND, BOUND, side)
        self.step = float(self.axis[1] - self.axis[0])
        gx, gy = np.meshgrid(self.axis, self.axis, indexing="ij")
        self.x, self.y, self.z = gx, gy, ackley(gx, gy)

    def _locate(self, p: Vector) -> tuple[int, int, float, float]:
        """(i, j, u, v): the cell of p and p's position in it, in units of the grid step."""
        x, y = (min(max(float(c), -BOUND), BOUND) for c in p[:2])
        i = min(int((x + BOUND) / self.step), self.side - 2)
        j = min(int((y + BOUND) / self.step), self.side - 2)
        return i, j, (x - self.axis[i]) / self.step, (y - self.axis[j]) / self.step

    def value(self, p: Vector) -> float:
        """The interpolated height at p."""
        i, j, u, v = self._locate(p)
        z = self.z
        if u + v <= 1:  # lower triangle (i,j), (i+1,j), (i,j+1)
            return float(z[i, j] + u * (z[i + 1, j] - z[i, j]) + v * (z[i, j + 1] - z[i, j]))
        w = z[i + 1, j + 1]
        return float(w + (1 - u) * (z[i, j + 1] - w) + (1 - v) * (z[i + 1, j] - w))

    def gradient(self, p: Vector) -> Vector:
        """The slope of the triangle holding p."""
        i, j, u, v = self._locate(p)
        z = self.z
        if u + v <= 1:
            slope = (z[i + 1, j] - z[i, j], z[i, j + 1] - z[i, j])
        else:
            slope = (z[i + 1, j + 1] - z[i, j + 1], z[i + 1, j + 1] - z[i + 1, j])
        return np.array(slope) / self.step

    def triangles(self) -> np.ndarray:
        """Vertex indices (into the flattened grid, i·side + j) of every triangle."""
        n = self.side
        cells = [
            (i * n + j, (i + 1) * n + j, i * n + j + 1) for i in range(n - 1) for j in range(n - 1)
        ]
        upper = [(a + n + 1, c, b) for a, b, c in cells]
        return np.array(cells + upper)


def descend(
    fun: Callable[[Vector], float], jac: Callable[[Vector], Vector], start: Vector, method: str
) -> Vector:
    """Where `method` ends from `start`, inside the square."""
    bounds = [(-BOUND, BOUND)] * 2
    options: dict[str, Any] = {}
    if method == "trust-constr":  # tolerances far below TOLERANCE; tighter ones only cost time
        options = {"initial_tr_radius": TRUST_RADIUS, "xtol": 1e-5, "gtol": 1e-5}
    with warnings.catch_warnings():  # trust-constr warns on the mesh's zero-curvature planes
        warnings.simplefilter("ignore")
        result = minimize(fun, start, jac=jac, method=method, bounds=bounds, options=options)
    return np.clip(np.asarray(result.x, dtype=float), -BOUND, BOUND)


@dataclass(frozen=True)
class Trial:
    """One start and where each strategy ended."""

    start: Vector
    random_end: Vector  # descent on the original from `start`
    simplified_end: Vector  # descent on the simplified function from `start`
    smart_end: Vector  # descent on the original from `simplified_end`


@dataclass(frozen=True)
class AckleyResult:
    """The trials of one demonstration and their success rates."""

    trials: list[Trial]
    tolerance: float
    method: str

    def _rate(self, ends: list[Vector]) -> float:
        hits = sum(bool(np.hypot(*end) <= self.tolerance) for end in ends)
        return hits / len(ends) if ends else 0.0

    @property
    def random_start_success(self) -> float:
        return self._rate([t.random_end for t in self.trials])

    @property
    def smart_start_success(self) -> float:
        return self._rate([t.smart_end for t in self.trials])

    def to_json(self) -> dict[str, Any]:
        """The summary `initlab ackley --json` prints (rates as fractions)."""
        return {
            "trials": len(self.trials),
            "random_start_success": self.random_start_success,
            "smart_start_success": self.smart_start_success,
            "tolerance": self.tolerance,
        }


def run_ackley(
    trials: int, seed: int = 0, tolerance: float = TOLERANCE, method: str = METHODS[0]
) -> AckleyResult:
    """Paired trials: each uniform start is used by both the random and the smart strategy."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid choices: {', '.join(METHODS)}")
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    simple = Mesh(SIMPLE_SIDE)
    rng = np.random.default_rng(seed)
    done = []
    for _ in range(trials):
        start = rng.uniform(-BOUND, BOUND, size=2)
        random_end = descend(_ackley_at, ackley_gradient, start, method)
        simplified_end = descend(simple.value, simple.gradient, start, method)
        smart_end = descend(_ackley_at, ackley_gradient, simplified_end, method)
        done.append(Trial(start, random_end, simplified_end, smart_end))
    return AckleyResult(done, tolerance, method)


def _surfaces() -> tuple[Mesh, Mesh]:
    return Mesh(SIMPLE_SIDE), Mesh(ORIGINAL_SIDE)


def _points(trial: Trial, simple: Mesh) -> dict[str, tuple[float, float, float]]:
    """Fig. 1's dots: red on each surface (the simplified minimum, then its projection), green."""
    sx, sy = (float(c) for c in trial.simplified_end)
    gx, gy = (float(c) for c in trial.smart_end)
    return {
        "red_simplified": (sx, sy, simple.value(trial.simplified_end)),
        "red_original": (sx, sy, float(ackley(sx, sy))),
        "green_original": (gx, gy, float(ackley(gx, gy))),
    }


def _title(result: AckleyResult) -> str:
    return (
        f"{len(result.trials)} random starts: random start reached (0,0) in "
        f"{100 * result.random_start_success:.0f}%, smart start in "
        f"{100 * result.smart_start_success:.0f}% (tolerance {result.tolerance}, {result.method})"
    )


def plot_png(result: AckleyResult, path: Path, trial: int = 0) -> None:
    """Fig. 1 as a PNG: simplified (left) and original (right) surfaces with the trial's dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    simple, fine = _surfaces()
    dots = _points(result.trials[trial], simple)
    fig = plt.figure(figsize=(13, 6))
    panels = [
        (simple, "Simplified function (64 points)", ["red_simplified"]),
        (fine, "Original function (10,000 points)", ["red_original", "green_original"]),
    ]
    for k, (mesh, title, names) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        tri = Triangulation(mesh.x.ravel(), mesh.y.ravel(), mesh.triangles())
        ax.plot_trisurf(tri, mesh.z.ravel(), cmap="viridis", alpha=0.6, linewidth=0.1)
        for name in names:
            x, y, z = dots[name]
            color = "green" if name.startswith("green") else "red"
            ax.scatter([x], [y], [z], color=color, s=60, depthshade=False, zorder=10)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.suptitle(_title(result), fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_html(result: AckleyResult, path: Path, trial: int = 0) -> None:
    """Fig. 1 as interactive HTML (plotly.js embedded, so it opens offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    simple, fine = _surfaces()
    dots = _points(result.trials[trial], simple)
    fig = make_subplots(
        rows=1,
        cols=2,
        specs=[[{"type": "scene"}, {"type": "scene"}]],
        subplot_titles=["Simplified function (64 points)", "Original function (10,000 points)"],
    )
    for col, mesh in ((1, simple), (2, fine)):
        i, j, k = mesh.triangles().T
        surface = go.Mesh3d(
            x=mesh.x.ravel(), y=mesh.y.ravel(), z=mesh.z.ravel(), i=i, j=j, k=k,
            intensity=mesh.z.ravel(), colorscale="Viridis", opacity=0.7, showscale=False,
        )  # fmt: skip
        fig.add_trace(surface, row=1, col=col)
    for name, (x, y, z) in dots.items():
        color = "green" if name.startswith("green") else "red"
        dot = go.Scatter3d(
            x=[x], y=[y], z=[z], mode="markers", name=name, marker={"size": 6, "color": color}
        )
        fig.add_trace(dot, row=1, col=1 if name == "red_simplified" else 2)
    fig.update_layout(title={"text": _title(result), "font": {"size": 13}})
    fig.write_html(path, include_plotlyjs=True, full_html=True)
