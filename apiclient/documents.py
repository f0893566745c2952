"""The body POST /experiments/import takes of a results.json (what `initlab run --out DIR`
writes), shared by `initlab import` and the dashboard's Submit page, so both send the same."""

from __future__ import annotations

import json
from typing import Any

KEPT = ("spec", "runs", "provenance")  # the rest (summary, selections) the service recomputes


def results_body(name: str, raw: bytes) -> dict[str, Any]:
    """The import body of a results.json's bytes; ValueError names what is wrong in one line."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{name} is not JSON ({error}); give the results.json that "
                         "`initlab run --out DIR` wrote") from None
    if not isinstance(document, dict) or not {"spec", "runs"} <= document.keys():
        raise ValueError(f"{name} is not a results document: it needs 'spec' and 'runs' (the "
                         "results.json that `initlab run --out DIR` wrote)")
    return {key: document[key] for key in KEPT if key in document}
