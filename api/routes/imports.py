"""/experiments/import: store a finished experiment made elsewhere, from a results.json document.

Any producer of results.json can use it: `initlab run --out` folders, and `initlab import`
of the paper authors' array files. Imported experiments are marked (provenance) and are never
queued, retried or resumed: they have no checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from api.deps import Authorized, CurrentPrincipal, DatabaseDep, MemberOnly
from api.errors import invalid, spec_items
from core.spec import MAX_EPOCHS, MAX_REPEATS, ExperimentSpec, SpecError, parse_spec
from store import imports
from store.runs import Conflict

router = APIRouter(prefix="/experiments", tags=["experiments"], dependencies=[Authorized])

SHA256 = re.compile(r"^[0-9a-f]{64}$")
Number = float | None


class ImportedMetric(BaseModel):
    """One metric row as results.json stores it (accuracy as a fraction)."""

    model_config = ConfigDict(extra="ignore")

    phase: str = Field(pattern=r"^(main|preprocess|stage-[1-9][0-9]{0,5})$")
    epoch: int = Field(ge=0, le=MAX_EPOCHS)
    split: Literal["sample", "train", "val", "test"]
    loss: Number = Field(None, ge=0, allow_inf_nan=False)
    accuracy: Number = Field(None, ge=0, le=1, allow_inf_nan=False)
    lr: Number = Field(None, ge=0, allow_inf_nan=False)
    seconds: Number = Field(None, ge=0, allow_inf_nan=False)
    examples: int | None = Field(None, ge=0)
    examples_total: int | None = Field(None, ge=0, description="all phases so far")
    seconds_total: Number = Field(None, ge=0, allow_inf_nan=False)


class ImportedRun(BaseModel):
    """One finished (arm, repeat) with its metric rows; per-rule selections are recomputed."""

    model_config = ConfigDict(extra="ignore")

    arm: str = Field(max_length=64)
    repeat: int = Field(ge=0, lt=MAX_REPEATS)
    status: Literal["done"] = "done"
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    init_fingerprint: str | None = Field(None, max_length=64)
    wall_seconds: dict[str, float] | None = None
    metrics: list[ImportedMetric]


class ImportDocument(BaseModel):
    """A results.json document: spec, runs and, for imports, provenance (summary is ignored)."""

    model_config = ConfigDict(extra="ignore")

    spec: dict[str, Any]
    runs: list[ImportedRun] = Field(min_length=1)
    provenance: dict[str, Any] | None = None


class ImportResponse(BaseModel):
    """The stored experiment."""

    id: int
    name: str
    status: str
    runs: int
    metric_rows: int
    provenance: dict[str, Any]


def _invalid(lines: list[str]) -> HTTPException:
    return invalid(spec_items(lines))


def _spec(document: ImportDocument) -> ExperimentSpec:
    try:
        spec = parse_spec(document.spec)
    except SpecError as error:
        raise _invalid([f"spec.{line}" for line in error.errors]) from None
    if spec.sweep:
        raise _invalid(["spec.sweep: an imported experiment is one sweep point; remove 'sweep'"])
    return spec


def _check_runs(spec: ExperimentSpec, runs: list[ImportedRun]) -> None:
    """Every (arm, repeat) of the spec exactly once, and each metric row once per run."""
    wanted = set(spec.run_keys())
    seen: set[tuple[str, int]] = set()
    lines = []
    for i, run in enumerate(runs):
        key = (run.arm, run.repeat)
        if key not in wanted:
            arms = ", ".join(a.name for a in spec.arms)
            lines.append(
                f"runs.{i}: ({run.arm}, {run.repeat}) is not a run of the spec"
                f" (arms: {arms}; repeats 0..{spec.repeats - 1})"
            )
        elif key in seen:
            lines.append(f"runs.{i}: ({run.arm}, {run.repeat}) appears twice")
        seen.add(key)
        rows = [(m.phase, m.epoch, m.split) for m in run.metrics]
        if len(set(rows)) != len(rows):
            lines.append(f"runs.{i}: a (phase, epoch, split) row appears twice")
    missing = sorted(wanted - seen)
    if missing:
        shown = ", ".join(f"({a}, {r})" for a, r in missing[:5])
        lines.append(f"runs: {len(missing)} run(s) of the spec missing, e.g. {shown}")
    if lines:
        raise _invalid(lines)


def _provenance(document: ImportDocument, spec: ExperimentSpec) -> dict[str, Any]:
    """The stored provenance: the producer's, marked imported, with the import's SHA-256."""
    provenance = dict(document.provenance or {})
    sha = provenance.get("sha256")
    if sha is None:  # no file behind it: the document's own content identifies it
        runs = [run.model_dump() for run in document.runs]
        canonical = json.dumps({"spec": spec.model_dump(), "runs": runs}, sort_keys=True)
        sha = hashlib.sha256(canonical.encode()).hexdigest()
    elif not isinstance(sha, str) or not SHA256.match(sha):
        raise _invalid([f"provenance.sha256: expected 64 lowercase hex digits (got {sha!r})"])
    return {**provenance, "imported": True, "sha256": sha}


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResponse,
    dependencies=[MemberOnly],
)
def import_experiment(
    document: ImportDocument, db: DatabaseDep, principal: CurrentPrincipal
) -> ImportResponse:
    """Store a finished experiment from a results.json document, marked as imported.

    409 when the same file (SHA-256) was imported before, naming that experiment.
    """
    spec = _spec(document)
    _check_runs(spec, document.runs)
    provenance = _provenance(document, spec)
    runs = [
        {**run.model_dump(exclude={"metrics"}), "metrics": [m.model_dump() for m in run.metrics]}
        for run in document.runs
    ]
    try:
        with db.transaction() as session:
            experiment = imports.import_experiment(
                session,
                spec=spec,
                runs=runs,
                provenance=provenance,
                sha256=provenance["sha256"],
                owner=principal.name,
            )
            answer = ImportResponse(
                id=experiment.id,
                name=experiment.name,
                status=experiment.status,
                runs=len(runs),
                metric_rows=sum(len(run["metrics"]) for run in runs),
                provenance=provenance,
            )
    except Conflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except IntegrityError:  # the same SHA-256 committed by a concurrent import
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"already imported (SHA-256 {provenance['sha256']})"
        ) from None
    return answer
