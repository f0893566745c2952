"""`initlab import PATH`: a run folder or its results.json made elsewhere goes through the Submit
page's route (POST /experiments/import); the authors' .npz keeps --preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.core.authors_files import write_authors_file
from tests.initlab.conftest import initlab, one_error_line
from tests.service.servers import Api, Service, tiny_spec

pytestmark = pytest.mark.slow
ARMS = [{"name": "original", "method": "original"}, {"name": "smart", "method": "smart_init"}]


@pytest.fixture(scope="module")
def laptop_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `initlab run --out` folder, as a laptop or another cluster would make it."""
    folder = tmp_path_factory.mktemp("laptop")
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec("laptop", epochs=2, repeats=2, arms=ARMS)))
    made = initlab("run", str(spec), "--out", str(folder / "out"), "--threads", "1", timeout=300)
    assert made.returncode == 0, made.stderr
    return folder / "out"


def experiment_id(stdout: str) -> int:
    return int(stdout.split("-> experiment ")[1].split()[0])


def test_a_run_folder_imports_once_and_reports_as_the_folder(
    laptop_run: Path, service: Service, api_env: dict[str, str]
) -> None:
    stored = initlab("import", str(laptop_run), env=api_env)
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.startswith("4 imported runs -> experiment ")
    eid = experiment_id(stored.stdout)
    detail = Api(service.url).experiment(eid)
    assert detail["status"] == "done" and detail["provenance"]["imported"] is True
    assert detail["name"] == "laptop"
    assert sorted((r["arm"], r["repeat"]) for r in Api(service.url).runs(eid)) == [
        ("original", 0), ("original", 1), ("smart", 0), ("smart", 1)]
    # The same tables and paired statistics from the service as from the folder.
    remote = initlab("report", str(eid), "--format", "csv", env=api_env)
    local = initlab("report", str(laptop_run), "--format", "csv")
    assert remote.returncode == 0 and remote.stdout == local.stdout
    assert "smart" in remote.stdout
    # The same results again, named by file this time: refused, naming the experiment.
    again = initlab("import", str(laptop_run / "results.json"), env=api_env)
    assert again.returncode == 2
    assert f"(409): already imported as experiment {eid}" in one_error_line(again)


def test_a_malformed_results_file_or_folder_is_one_line_and_exit_2(
    laptop_run: Path, tmp_path: Path, api_env: dict[str, str]
) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    document = json.loads((laptop_run / "results.json").read_text())
    (tmp_path / "short.json").write_text(json.dumps({**document, "runs": document["runs"][:-1]}))
    (tmp_path / "empty").mkdir()
    expected = {
        "broken.json": "broken.json is not JSON (",
        "list.json": "it needs 'spec' and 'runs'",
        "short.json": "runs: 1 run(s) of the spec missing, e.g. (smart, 1)",
        "empty": "holds no results.json",
        "absent": "absent: no such file or folder",
    }
    for name, says in expected.items():
        refused = initlab("import", str(tmp_path / name), env=api_env)
        assert refused.returncode == 2, (name, refused.stderr)
        assert says in one_error_line(refused), name
    misplaced = initlab("import", str(laptop_run), "--preset", "table1-16", env=api_env)
    assert misplaced.returncode == 2
    assert "--preset: only for an .npz array file" in one_error_line(misplaced)


def test_the_authors_npz_keeps_its_preset(
    service: Service, tmp_path: Path, api_env: dict[str, str]
) -> None:
    file = write_authors_file(tmp_path / "cli-import.npz", runs=2, epochs=3, seed=26)
    missing = initlab("import", str(file), env=api_env)
    assert missing.returncode == 2
    assert "needs --preset NAME" in one_error_line(missing)
    stored = initlab("import", str(file), "--preset", "table1-16", env=api_env)
    assert stored.returncode == 0, stored.stderr
    detail = Api(service.url).experiment(experiment_id(stored.stdout))
    assert detail["provenance"]["file"] == "cli-import.npz"
