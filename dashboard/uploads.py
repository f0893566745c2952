"""The Submit page's import: a results.json file (from `initlab run --out` on a laptop or another
cluster), or the paper authors' .npz array file with the preset its runs followed (as `initlab
import FILE.npz --preset NAME` reads it), made into the body POST /experiments/import takes, with
one clear line if it cannot be."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from apiclient.documents import results_body

MAX_UPLOAD_MB = 50
EXISTING = re.compile(r"already imported as experiment (\d+)")


def upload_body(name: str, raw: bytes, preset: str | None = None) -> dict[str, Any]:
    """The import body of an uploaded results.json, or of an authors' .npz file of `preset`'s
    runs; ValueError names what is wrong with it in one line."""
    if name.lower().endswith(".npz"):
        return authors_body(name, raw, preset)
    return results_body(name, raw)


def authors_body(name: str, raw: bytes, preset: str | None) -> dict[str, Any]:
    """The import body of an authors' .npz file, exactly as `initlab import` posts it. The file
    is read from a private folder under its own name (the name goes into the spec and the
    provenance; its bytes' SHA-256 identify the import, so the same file imports once)."""
    from core.paper.authors_import import import_authors_file  # numpy and torch: loaded on use
    from core.training.experiment import upload_document

    if not preset:
        raise ValueError(f"{name}: choose the preset its runs followed (the authors' files do "
                         "not say; `initlab import` asks for --preset)")
    name = Path(name).name
    with tempfile.TemporaryDirectory(prefix="initlab-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(raw)
        try:
            return upload_document(import_authors_file(path, preset))
        except ValueError as error:  # the file's problem (a DataError), or an unknown preset
            raise ValueError(" ".join(str(error).replace(str(path), name).split())) from None


def existing_experiment(lines: list[str]) -> int | None:
    """The experiment an import was refused for duplicating, from the API's 409 line."""
    for line in lines:
        match = EXISTING.search(line)
        if match:
            return int(match.group(1))
    return None
