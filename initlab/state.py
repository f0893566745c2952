"""Where the service keeps its state (store, broker folder, checkpoints): one state directory,
apart from the data root the data sets are read from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from store.config import Settings

StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", envvar="INITLAB_STATE_DIR",
        help="folder of the SQLite store, the embedded broker and the checkpoints "
             "(default ./var; an INITLAB_DATABASE_URL, _BROKER_DIR or _ARTIFACT_DIR set wins)",
    ),
]


def use_state_dir(state_dir: Path | None) -> None:
    """Point the store, broker folder and checkpoints under `state_dir`, for this process and
    the ones it starts; a setting given on its own in the environment is kept."""
    if state_dir is None:
        return
    root = state_dir.resolve()
    os.environ["INITLAB_STATE_DIR"] = str(root)
    os.environ.setdefault("INITLAB_DATABASE_URL", f"sqlite:///{root / 'initlab.db'}")
    os.environ.setdefault("INITLAB_BROKER_DIR", str(root / "broker"))
    os.environ.setdefault("INITLAB_ARTIFACT_DIR", str(root / "artifacts"))
    os.environ.setdefault("INITLAB_SCRATCH_DIR", str(root / "scratch"))


def where_lines(settings: Settings) -> list[str]:
    """The start-up lines that say where the state and the data are."""
    broker = settings.broker_dir.resolve() if settings.is_embedded_broker else settings.broker_url
    return [
        f"state:     database {settings.database_url.split('@')[-1]}, broker {broker}, "
        f"checkpoints {settings.artifact_root}",
        f"data root: {Path(settings.data_root).resolve()}",
    ]
