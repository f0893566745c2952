"""The Submit page's import: a results.json file (from `initlab run --out` on a laptop or another
cluster) read into the body POST /experiments/import takes, with one clear line if it is not."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_UPLOAD_MB = 50
KEPT = ("spec", "runs", "provenance")  # the rest (summary, selections) the service recomputes
EXISTING = re.compile(r"already imported as experiment (\d+)")


def upload_body(name: str, raw: bytes) -> dict[str, Any]:
    """The import body of an uploaded results.json; ValueError names what is wrong with it."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{name} is not JSON ({error}); upload the results.json that "
                         "`initlab run --out DIR` wrote") from None
    if not isinstance(document, dict) or not {"spec", "runs"} <= document.keys():
        raise ValueError(f"{name} is not a results document: it needs 'spec' and 'runs' (the "
                         "results.json that `initlab run --out DIR` wrote)")
    return {key: document[key] for key in KEPT if key in document}


def existing_experiment(lines: list[str]) -> int | None:
    """The experiment an import was refused for duplicating, from the API's 409 line."""
    for line in lines:
        match = EXISTING.search(line)
        if match:
            return int(match.group(1))
    return None
