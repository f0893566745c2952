"""/presets: the named specs of core.paper.presets (the paper's protocols and the demo)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import MAX_ID, Authorized
from api.schemas import PresetBrief, PresetPage
from core.paper.presets import PRESETS, get_preset
from core.registry import UnknownNameError
from core.spec import SpecError, spec_to_json

router = APIRouter(prefix="/presets", tags=["presets"], dependencies=[Authorized])


def _summary(name: str) -> str:
    """The first line of the preset's docstring."""
    lines = (PRESETS.get(name).__doc__ or "").strip().splitlines()
    return lines[0].strip() if lines else ""


@router.get("", response_model=PresetPage)
def list_presets(
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> PresetPage:
    """The presets' names and one-line summaries, by name."""
    names = PRESETS.names()
    items = [PresetBrief(name=name, summary=_summary(name)) for name in names[offset:][:limit]]
    return PresetPage(items=items, total=len(names), limit=limit, offset=offset)


@router.get("/{name}", response_model=dict[str, Any])
def read_preset(name: str) -> dict[str, Any]:
    """The preset's complete spec, ready to edit and POST to /experiments."""
    try:
        return spec_to_json(get_preset(name))
    except UnknownNameError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except SpecError as error:  # a broken preset is a server fault; say which
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, [f"preset {name}: {e}" for e in error.errors]
        ) from None
