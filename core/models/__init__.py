"""Models: `build_model(name, num_classes)` builds any registered network.

The registry and the networks (core.models.factory) need torch; importing this package does not,
so the API can check model names (core.models.names) without loading torch. The factory names
are imported from core.models.factory on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.models.factory import MODELS, build_model, param_count

__all__ = ["MODELS", "build_model", "param_count"]


def __getattr__(name: str) -> Any:
    """A name of core.models.factory, which loads torch and registers every network."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from core.models import factory

    return getattr(factory, name)
