"""Checkpoints by URL (store/artifacts.py) on a local folder and a real S3 endpoint, and
migration 0012 on SQLite and PostgreSQL (issue 24)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from core.training.checkpoint import save_checkpoint
from store.artifacts import Artifacts, ArtifactUnavailable
from store.config import Settings
from store.db import Database, alembic_config, upgrade
from store.models import Experiment, Run
from tests.service.backends import scratch_url
from tests.service.s3_server import s3_server, unique_prefix

STATE = {"model": {"w": torch.arange(6.0)}, "history": []}


def _write(artifacts: Artifacts, key: str) -> None:
    save_checkpoint(STATE, artifacts.local_file(key))
    artifacts.push(7, key)


def _roundtrip(artifacts: Artifacts) -> None:
    _write(artifacts, "7.1.pt")
    artifacts.fetch(7, "7.1.pt", artifacts.local_file("7.2.pt"))
    fetched = torch.load(artifacts.local_file("7.2.pt"), weights_only=True)
    assert torch.equal(fetched["model"]["w"], STATE["model"]["w"])
    with pytest.raises(ArtifactUnavailable, match=r"^checkpoint not readable here: 7\.9\.pt: "):
        artifacts.fetch(7, "7.9.pt", artifacts.local_file("7.10.pt"))
    assert not artifacts.local_file("7.10.pt").exists()


def test_a_local_root_writes_in_place_and_fetches_by_key(tmp_path: Path) -> None:
    artifacts = Artifacts(str(tmp_path / "art"), tmp_path / "scratch")
    _roundtrip(artifacts)
    assert (tmp_path / "art" / "7.1.pt").exists() and not (tmp_path / "scratch").exists()
    assert artifacts.where("7.1.pt") == f"{tmp_path / 'art'}/7.1.pt"


def test_a_corrupt_checkpoint_is_not_readable_and_names_the_cause(tmp_path: Path) -> None:
    artifacts = Artifacts(str(tmp_path / "art"), tmp_path / "scratch")
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "7.1.pt").write_bytes(b"not a zip file")
    with pytest.raises(ArtifactUnavailable, match=r"7\.1\.pt: cannot read checkpoint"):
        artifacts.fetch(7, "7.1.pt", artifacts.local_file("7.2.pt"))


def test_a_key_stored_as_an_absolute_path_before_keys_still_resolves(tmp_path: Path) -> None:
    legacy = tmp_path / "old-host" / "7.1.pt"
    save_checkpoint(STATE, legacy)
    artifacts = Artifacts(str(tmp_path / "art"), tmp_path / "scratch")
    artifacts.fetch(7, str(legacy), artifacts.local_file("7.2.pt"))
    assert artifacts.local_file("7.2.pt").exists()


def test_older_executions_are_dropped_but_the_committed_one(tmp_path: Path) -> None:
    artifacts = Artifacts(str(tmp_path / "art"), tmp_path / "scratch")
    for key in ("7.1.pt", "7.2.pt", "7.3.pt", "8.1.pt"):
        _write(artifacts, key)
    artifacts.drop_older(7, 4, keep="7.2.pt")
    assert sorted(p.name for p in (tmp_path / "art").iterdir()) == ["7.2.pt", "8.1.pt"]
    artifacts.drop_older(7, 5, keep=str(tmp_path / "art" / "7.2.pt"))  # a legacy absolute key
    assert sorted(p.name for p in (tmp_path / "art").iterdir()) == ["7.2.pt", "8.1.pt"]


def test_an_s3_root_puts_and_gets_through_the_s3_protocol(tmp_path: Path) -> None:
    with s3_server() as s3:
        prefix = unique_prefix("unit")
        env = s3.env(prefix)
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
                patch.setenv(name, env[name])
            root = env["INITLAB_ARTIFACT_URL"]
            artifacts = Artifacts(root, tmp_path / "scratch", s3.url)
            _roundtrip(artifacts)
            assert s3.keys(prefix) == ["7.1.pt"]
            artifacts.drop_older(7, 3)
            assert s3.keys(prefix) == []
            assert artifacts.where("7.1.pt") == f"{root}/7.1.pt"
            s3.stop()
            with pytest.raises(ArtifactUnavailable, match="not writable here: 7.5.pt: .*connect"):
                _write(artifacts, "7.5.pt")
            # What a run handed back past INITLAB_HANDBACK_LIMIT fails with (the limit itself:
            # tests/reliability/test_several_hosts.py).
            with pytest.raises(ArtifactUnavailable, match=r"^checkpoint not readable here: "
                               r"7\.1\.pt: .*Could not connect"):
                artifacts.fetch(7, "7.1.pt", artifacts.local_file("7.6.pt"))


def test_artifact_url_wins_and_artifact_dir_stays_a_synonym(tmp_path: Path) -> None:
    assert Settings(artifact_dir=tmp_path / "a").artifact_root == str((tmp_path / "a").resolve())
    both = Settings(artifact_dir=tmp_path / "a", artifact_url="s3://bucket/prefix")
    assert both.artifact_root == "s3://bucket/prefix"
    assert Settings(artifact_dir=tmp_path / "a", artifact_url="").artifact_root.endswith("/a")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_migration_0012_gives_old_rows_any_device_and_no_handbacks(
    dialect: str, tmp_path: Path
) -> None:
    from alembic import command

    with scratch_url(dialect, tmp_path, "m10", migrate=False) as url:
        upgrade(url, "0010")
        db = Database(url)
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO experiment (name, spec, status, priority, created) "
                "VALUES ('old', '{}', 'queued', 5, CURRENT_TIMESTAMP)"
            )
            connection.exec_driver_sql(
                "INSERT INTO run (experiment_id, arm, repeat, status, attempt, requeues, "
                "checkpoint) SELECT id, 'a', 0, 'queued', 1, 0, '/var/old/1.1.pt' FROM experiment"
            )
        upgrade(url, "0012")
        with db.session() as session:
            assert session.execute(select(Experiment.device)).scalar_one() == "any"
            run = session.execute(
                select(Run.handbacks, Run.handback_cause, Run.data_digest, Run.checkpoint)
            ).one()
            assert tuple(run) == (0, None, None, "/var/old/1.1.pt")
        db.dispose()
        command.downgrade(alembic_config(url), "0010")
        upgrade(url)


def test_every_entry_point_honours_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: INITLAB_STATE_DIR is read by the settings themselves, so an API or a worker
    started directly (uvicorn, celery) uses it too, not only `initlab ...`."""
    from api.main import create_app

    state = tmp_path / "state"
    monkeypatch.setenv("INITLAB_STATE_DIR", str(state))
    monkeypatch.setenv("INITLAB_ARTIFACT_DIR", str(tmp_path / "own-artifacts"))  # its own wins
    for name in ("INITLAB_DATABASE_URL", "INITLAB_BROKER_DIR", "INITLAB_SCRATCH_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{state.resolve() / 'initlab.db'}"
    assert (settings.broker_dir, settings.scratch_dir) == (state / "broker", state / "scratch")
    assert settings.artifact_root == str((tmp_path / "own-artifacts").resolve())
    upgrade(settings.database_url)
    app = create_app(settings)
    assert app.state.db.url == settings.database_url
    app.state.db.dispose()
