"""SPEC arguments: a spec file, or a preset's name; a name that is neither gets suggestions."""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path


def unknown_spec(name: str) -> FileNotFoundError:
    """The error for a SPEC that is no file and no preset, naming the close preset names."""
    from core.paper.presets import PRESETS

    close = get_close_matches(name, PRESETS.names(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return FileNotFoundError(
        f"no spec file {name!r} and no preset of that name{hint} "
        f"(presets: {', '.join(PRESETS.names())})"
    )


def is_preset(name: str) -> bool:
    """True when `name` is no existing file but a preset's name."""
    from core.paper.presets import PRESETS

    return not Path(name).exists() and name in PRESETS
