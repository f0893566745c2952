"""`initlab report EXPERIMENT_ID --api URL` against the live API of conftest.py (no dashboard:
the service fixture is shared so that the API and worker start once for both)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from typer.testing import CliRunner

from core.reports.tables import CSV_COLUMNS
from initlab.cli import app
from initlab.commands import report as report_command
from tests.service.servers import TOKEN, Api, Service

pytestmark = pytest.mark.slow


def test_report_reads_a_stored_experiment_as_csv(
    service: Service, api: Api, finished: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_command, "PAGE", 7)  # many pages: follow next_cursor to the end
    eid = str(finished["id"])
    result = CliRunner().invoke(
        app, ["report", eid, "--api", service.url, "--format", "csv"],
        env={"INITLAB_API_TOKEN": TOKEN, "INITLAB_API_URL": None},
    )
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == CSV_COLUMNS == [
        "rule", "arm", "split", "statistic", "loss", "accuracy", "epoch"]
    rows = list(reader)
    for rule in ("val_loss", "final", "paper"):
        for arm in ("original", "smart"):
            mine = {(r["split"], r["statistic"]) for r in rows if (r["rule"], r["arm"]) == (rule,
                                                                                         arm)}
            assert {("val", "mean"), ("test", "n"), ("train", "median")} <= mine, (rule, arm)
    counts = {r["arm"]: r["loss"] for r in rows if (r["rule"], r["split"], r["statistic"])
              == ("val_loss", "val", "n")}
    assert counts == {"original": "3", "smart": "3"}  # every repeat's rows arrived

    summary = api.http.get(f"/experiments/{eid}/summary").json()  # the API's own figures
    for table_row in summary["tables"]["val_loss"]:
        mean = next(r for r in rows if (r["rule"], r["arm"], r["split"], r["statistic"])
                    == ("val_loss", table_row["arm"], table_row["split"], "mean"))
        assert float(mean["loss"]) == pytest.approx(table_row["loss_mean"])
        assert float(mean["accuracy"]) == pytest.approx(table_row["acc_mean"])


def test_report_names_an_unknown_experiment(service: Service) -> None:
    result = CliRunner().invoke(app, ["report", "999999", "--api", service.url],
                                env={"INITLAB_API_TOKEN": TOKEN})
    assert result.exit_code == 2
    assert "404" in result.stderr and "experiment 999999 not found" in result.stderr
