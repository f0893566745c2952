"""Where an experiment's numbers came from, when InitLab did not train them itself.

results.json may carry a top-level "provenance" object beside "spec", "runs" and "summary".
It marks an imported experiment (source, licence, SHA-256 of the imported file) and lists
caveats, and figures derived rather than recorded, that every report, table and dashboard view
of that experiment must repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The paper's ImageNet code saved the last epoch's validation loss under "test_losses".
TEST_LOSS_IS_VAL_LOSS = "test loss = last-epoch validation loss (as stored by the paper's code)"


def is_imported(provenance: Mapping[str, Any] | None) -> bool:
    """Whether the experiment was imported (its runs cannot be retried or resumed)."""
    return bool(provenance and provenance.get("imported"))


def provenance_lines(provenance: Mapping[str, Any] | None) -> list[str]:
    """One line on where the runs came from, then each caveat, for reports and tables."""
    if not provenance:
        return []
    lines = []
    if is_imported(provenance):
        parts = [f"imported from {provenance.get('file') or 'a file'}"]
        if provenance.get("source"):
            parts.append(f"source: {provenance['source']}")
        if provenance.get("licence"):
            parts.append(f"licence: {provenance['licence']}")
        if provenance.get("sha256"):
            parts.append(f"SHA-256 {provenance['sha256']}")
        lines.append("; ".join(parts) + " (no checkpoints: cannot be retried or resumed)")
    lines += [str(caveat) for caveat in provenance.get("caveats") or []]
    lines += [str(derived) for derived in provenance.get("derived") or []]
    return lines


def with_caveats(summary: dict[str, Any], provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    """The summary with the provenance lines added to its notes (tables print the notes)."""
    lines = provenance_lines(provenance)
    if lines and summary:
        summary["notes"] = list(summary.get("notes") or []) + lines
    return summary
