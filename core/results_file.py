"""The results document an `initlab run --out` folder holds: read by reports, power and the paper.

At core's root because the statistics, the reports and the paper all read it, and none of them
may import another's room for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.spec import SpecError


def read_results(path: Path) -> dict[str, Any]:
    """The results document (spec, runs, optional summary and provenance) of a run folder."""
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no results.json here (an `initlab run --out` folder?)")
    try:
        results = json.loads(file.read_text())
    except ValueError as error:
        raise SpecError([f"{file}: not valid JSON: {error}"]) from None
    if not isinstance(results, dict) or "spec" not in results or "runs" not in results:
        raise SpecError([f"{file}: expected an object with 'spec' and 'runs'"])
    return results
