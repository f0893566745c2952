"""POST /experiments/import and `initlab import FILE.npz --preset NAME` against a live service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.paper.authors_import import import_authors_file
from core.provenance import TEST_LOSS_IS_VAL_LOSS
from initlab.cli import app
from initlab.commands.import_ import upload_document
from tests.core.authors_files import authors_results_dir, write_authors_file
from tests.service.servers import TOKEN, Api, Service, problem_lines

CLI_ENV = {"INITLAB_API_TOKEN": TOKEN, "INITLAB_API_URL": None}


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=CLI_ENV)


def test_cli_import_stores_a_finished_marked_experiment_that_reports_as_the_folder(
    service: Service, tmp_path: Path
) -> None:
    file = write_authors_file(tmp_path / f"runs-{service.backend.name}.npz", runs=3, epochs=5)
    stored = cli("import", str(file), "--preset", "table1-16", "--api", service.url)
    assert stored.exit_code == 0, stored.output
    experiment_id = int(stored.stdout.split("experiment ")[1].split()[0])
    api = Api(service.url)
    detail = api.experiment(experiment_id)
    assert detail["status"] == "done" and detail["provenance"]["imported"] is True
    assert detail["provenance"]["caveats"][0] == TEST_LOSS_IS_VAL_LOSS
    assert {(r["status"], r["checkpoint"]) for r in api.runs(experiment_id)} == {("done", None)}
    assert len(api.metrics(experiment_id)) == 6 * (2 * 5 + 1)
    # The same tables from the service as from an --out folder of the same file.
    folder = tmp_path / "out"
    assert cli("import", str(file), "--preset", "table1-16", "--out", str(folder)).exit_code == 0
    remote = cli("report", str(experiment_id), "--api", service.url, "--select", "paper")
    local = cli("report", str(folder), "--select", "paper")
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout and TEST_LOSS_IS_VAL_LOSS in remote.stdout
    # The same file again: 409 naming the experiment that holds it.
    again = cli("import", str(file), "--preset", "table1-16", "--api", service.url)
    assert again.exit_code == 2
    assert f"(409): already imported as experiment {experiment_id}" in again.output
    # Imported runs cannot be retried or resumed.
    run_id = api.runs(experiment_id)[0]["id"]
    for fresh in ("false", "true"):
        retry = api.http.post(f"/runs/{run_id}/retry", params={"fresh": fresh})
        assert retry.status_code == 409 and "cannot be retried or resumed" in retry.text
    assert api.experiment(experiment_id)["status"] == "done"


def _document(tmp_path: Path, seed: int) -> dict[str, Any]:
    file = write_authors_file(tmp_path / f"doc-{seed}.npz", runs=2, epochs=3, seed=seed)
    return upload_document(import_authors_file(file, "table1-32"))


def test_any_results_document_imports_once_and_bad_ones_are_422(
    service: Service, tmp_path: Path
) -> None:
    api = Api(service.url)
    document = _document(tmp_path, seed=10)
    document["provenance"] = None  # a plain results.json: its content identifies it
    first = api.http.post("/experiments/import", json=document)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (
        body["runs"] == 4
        and body["metric_rows"] == 4 * 7
        and len(body["provenance"]["sha256"]) == 64
    )
    second = api.http.post("/experiments/import", json=document)
    assert second.status_code == 409 and f"experiment {body['id']}" in second.text

    def refused(change: dict[str, Any], expected: str) -> None:
        bad = json.loads(json.dumps({**document, **change}))
        response = api.http.post(
            "/experiments/import",
            content=json.dumps(bad),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert any(expected in line for line in problem_lines(response)), response.json()

    runs = document["runs"]
    refused({"runs": runs[:-1]}, "1 run(s) of the spec missing, e.g. (smart-init, 1)")
    refused({"runs": [*runs, runs[0]]}, "(original, 0) appears twice")
    refused({"runs": [{**runs[0], "arm": "warm"}, *runs[1:]]}, "(warm, 0) is not a run of the spec")
    refused({"spec": {**document["spec"], "model": "resnet"}}, "spec.model:")
    refused({"provenance": {"sha256": "abc"}}, "provenance.sha256: expected 64 lowercase hex")
    failed = {**runs[0], "status": "failed"}
    refused({"runs": [failed, *runs[1:]]}, "runs.0.status")
    bad_row = {**runs[0], "metrics": [{**runs[0]["metrics"][0], "accuracy": 42.0}]}
    refused({"runs": [bad_row, *runs[1:]]}, "runs.0.metrics.0.accuracy")
    text = json.dumps(document).replace(str(runs[0]["metrics"][0]["loss"]), "Infinity", 1)
    response = api.http.post(
        "/experiments/import", content=text, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert any(line.startswith("runs.0.metrics.0.loss: ") for line in problem_lines(response))


@pytest.mark.slow
def test_the_authors_cifar_file_imports_through_the_api_and_reproduces_table_iv(
    service: Service, tmp_path: Path
) -> None:
    """40 × 3 × 100 epochs: 2.5 MB of results.json, over the general body limit of 1 MB."""
    file = authors_results_dir() / "table4-cifar10.npz"
    api = Api(service.url)
    assert api.http.post("/experiments", content=b"x" * 1_100_000).status_code == 413
    stored = cli("import", str(file), "--preset", "table4-cifar10", "--api", service.url)
    assert stored.exit_code == 0, stored.output
    experiment_id = int(stored.stdout.split("experiment ")[1].split()[0])
    summary = api.http.get(f"/experiments/{experiment_id}/summary").json()
    test = {row["arm"]: row for row in summary["tables"]["paper"] if row["split"] == "test"}
    assert round(test["original"]["loss_mean"], 3) == 0.628
    assert round(test["smart-init"]["acc_median"], 2) == 80.16
    assert round(test["warm-start"]["loss_std"], 3) == 0.493
