"""A client generated from the live /openapi.json with openapi-python-client (the usual way a
lab scripts against a REST service) has every operation, submit included, and works."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.service.servers import TOKEN, Service, tiny_spec

pytestmark = pytest.mark.slow
GENERATOR = Path(sys.executable).parent / "openapi-python-client"  # pinned in the dev extras


def generate(service: Service, folder: Path) -> tuple[str, dict]:
    """Generate a client package from the running API's document: its name and the document."""
    document = httpx.get(f"{service.url}/openapi.json", timeout=30)
    assert document.status_code == 200
    (folder / "openapi.json").write_text(document.text)
    package = f"initlab_client_{service.backend.name}"
    path = f"{os.path.dirname(GENERATOR)}{os.pathsep}{os.environ.get('PATH', '')}"  # its ruff
    made = subprocess.run(
        [str(GENERATOR), "generate", "--path", "openapi.json", "--output-path", package,
         "--meta", "none"],
        cwd=folder, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=300,
    )
    output = made.stdout + made.stderr
    assert made.returncode == 0, output
    for trouble in ("WARNING", "Unable to", "Could not", "conflicting", "Skipping"):
        assert trouble not in output, output
    return package, document.json()


def module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


def test_the_generated_client_has_every_operation_and_submits_reads_and_cancels(
    service: Service, tmp_path: Path
) -> None:
    package, document = generate(service, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        for path, methods in document["paths"].items():
            for operation in methods.values():
                name = operation["operationId"]
                assert len(name) <= 20 and "api_v1" not in name, (path, name)
                tag = operation["tags"][0]
                assert hasattr(module(package, f"api.{tag}.{name}"), "sync"), (path, name)
        client = module(package, "client").AuthenticatedClient(base_url=service.url, token=TOKEN)
        experiments = "api.experiments"
        spec = module(package, "models").ExperimentSpec.from_dict(
            tiny_spec("generated-client", epochs=50, repeats=3))
        submitted = module(package, f"{experiments}.submit_experiment").sync(
            client=client, body=spec)
        assert type(submitted).__name__ == "SubmitResponse", submitted
        assert submitted.experiments[0].name == "generated-client" and len(submitted.runs) == 3
        read = module(package, f"{experiments}.read_experiment").sync(
            submitted.id, client=client)
        assert type(read).__name__ == "ExperimentDetail", read
        assert read.id == submitted.id and read.spec["training"]["epochs"] == 50
        cancelled = module(package, f"{experiments}.cancel_experiment").sync(
            submitted.id, client=client)
        assert type(cancelled).__name__ == "CancelResponse", cancelled
        runs = httpx.get(f"{service.url}/api/v1/experiments/{submitted.id}/runs",
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
        assert {run["status"] for run in runs["items"]} <= {"cancelled", "cancelling"}
        health = module(package, "api.health.health").sync(client=client)
        assert type(health).__name__ == "Health" and health.status.value == "ok"
    finally:
        sys.path.remove(str(tmp_path))
