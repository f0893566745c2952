"""The experiment page of an imported experiment says where its runs came from, on every tab."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paper.authors_import import import_authors_file
from core.provenance import TEST_LOSS_IS_VAL_LOSS
from initlab.commands.import_ import upload_document
from tests.core.authors_files import write_authors_file
from tests.dashboard.test_pages import app_on, texts
from tests.service.servers import Api, Service

pytestmark = pytest.mark.slow


def test_imported_experiment_page_shows_provenance_and_test_loss_caveat(
    dashboard_env: Service, api: Api, tmp_path: Path
) -> None:
    file = write_authors_file(tmp_path / "dash.npz", runs=2, epochs=4, seed=99)
    document = upload_document(import_authors_file(file, "table1-64"))
    stored = api.http.post("/experiments/import", json=document)
    assert stored.status_code == 201, stored.text
    at = app_on(experiment=str(stored.json()["id"]))
    warnings = texts(at.warning)
    assert TEST_LOSS_IS_VAL_LOSS in warnings
    assert any("imported from dash.npz" in w and "CC BY-NC 4.0" in w for w in warnings)
    runs = app_on(experiment=str(stored.json()["id"]), tab="Runs")
    assert set(runs.dataframe[0].value["Status"]) == {"done"}
    assert not any(b.proto.label == "Retry run" for b in runs.button)  # all runs are done
