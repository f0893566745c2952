"""The order of a run's phases by name: `stage-1` … `stage-k`, `preprocess`, `main`.

Free of torch, so the API and the dashboard can sort phases without the training stack.
"""

from __future__ import annotations

from collections.abc import Iterable


def phase_rank(phase: str) -> tuple[int, int]:
    """A sort key that puts phases in training order (unknown names last)."""
    if phase.startswith("stage-") and phase.removeprefix("stage-").isdigit():
        return (0, int(phase.removeprefix("stage-")))
    return {"preprocess": (1, 0), "main": (2, 0)}.get(phase, (3, 0))


def ordered_phases(names: Iterable[str]) -> list[str]:
    """The distinct phase names in training order."""
    return sorted(set(names), key=phase_rank)
