"""Pure helpers of the exclusions, the Compare page and the results and .npz uploads (no
servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.paper.authors_import import file_sha256, import_authors_file
from core.stats.exclusions import dropped_pairs, exclusion_note
from core.training.experiment import upload_document
from dashboard.charts import CurveView
from dashboard.compare import overlay_series, parse_ids, primary_mismatch
from dashboard.exclusions import STRIKE, excluded_line, strike_excluded
from dashboard.export import excluded_csv
from dashboard.uploads import existing_experiment, upload_body
from tests.core.authors_files import write_authors_file


def test_only_excluded_runs_are_struck_through() -> None:
    frame = pd.DataFrame({"Arm": ["a", "b"], "Excluded": ["", "broken node"]})
    shown = strike_excluded(frame)
    assert shown["Arm"].tolist() == ["a", f"b{STRIKE}"]
    assert frame["Arm"].tolist() == ["a", "b"]  # filtering by arm still sees the plain name
    run = {"id": 7, "arm": "b", "repeat": 2, "excluded_reason": "broken node",
           "excluded_by": "ana", "excluded_at": "2026-12-01T03:10:44Z"}
    assert excluded_line(run) == "~~#7 b, repeat 2~~ — broken node · by ana · 2026-12-01 03:10 UTC"


def test_an_excluded_baseline_run_drops_every_pair_of_its_repeat() -> None:
    excluded = [{"run_id": 3, "arm": "base", "repeat": 1, "reason": "bad disk", "by": None},
                {"run_id": 9, "arm": "a", "repeat": 1, "reason": "same node", "by": "ana"}]
    assert dropped_pairs(excluded, ["base", "a", "b"], "base") == {("a", 1), ("b", 1)}
    note = exclusion_note(excluded, ["base", "a", "b"], "base")
    assert note.startswith("excluded: 2 run(s) left out of every table and statistic, 2 repeat")
    assert "run 9 (a, repeat 1): same node (by ana)" in note
    exported = excluded_csv({"excluded": [{**run, "at": "2026-12-01T03:10:44Z"}
                                          for run in excluded]})
    assert exported.splitlines() == ["run_id,arm,repeat,reason,by,at",
                                     "3,base,1,bad disk,,2026-12-01T03:10:44Z",
                                     "9,a,1,same node,ana,2026-12-01T03:10:44Z"]


@pytest.mark.parametrize(("raw", "ids"), [
    ("3,5", [3, 5]), ("5, 3,5,x,", [5, 3]), (None, []), ("1,2,3,4,5,6,7,8", [1, 2, 3, 4, 5, 6]),
])
def test_compared_experiments_come_from_the_url(raw: str | None, ids: list[int]) -> None:
    assert parse_ids(raw) == ids


def _experiment(eid: int, split: str = "val") -> dict[str, object]:
    arms = [{"name": "original"}, {"name": "smart"}]
    return {"id": eid, "name": f"e{eid}", "spec": {"arms": arms, "baseline": "original",
                                                  "primary": {"split": split, "metric": "loss",
                                                              "rule": "val_loss"}}}


def test_overlaid_arms_are_named_by_experiment_and_coloured_apart() -> None:
    point = {"epoch": 1, "n": 2, "median": 0.5, "mean": 0.5, "low": 0.4, "high": 0.6}
    body = {"arms": {"original": [point], "smart": [point]}}
    series = overlay_series([(_experiment(3), body), (_experiment(5), body)], CurveView())
    assert [s.arm for s in series] == ["#3 original", "#3 smart", "#5 original", "#5 smart"]
    assert len({s.color for s in series}) == 4
    assert primary_mismatch([_experiment(3), _experiment(5)]) is None
    warning = primary_mismatch([_experiment(3), _experiment(5, split="test")])
    assert warning is not None and "#5 e5: test loss under val_loss" in warning


def test_an_upload_is_a_results_document_or_one_clear_line() -> None:
    document = {"spec": {"name": "x"}, "runs": [{"arm": "a"}], "summary": {}, "provenance": None}
    assert upload_body("r.json", json.dumps(document).encode()) == {
        "spec": {"name": "x"}, "runs": [{"arm": "a"}], "provenance": None}
    with pytest.raises(ValueError, match=r"^r.json is not JSON \("):
        upload_body("r.json", b"{nope")
    with pytest.raises(ValueError, match="needs 'spec' and 'runs'"):
        upload_body("r.json", b"[1, 2]")
    assert existing_experiment(["already imported as experiment 12 (SHA-256 ab)"]) == 12
    assert existing_experiment(["spec.name: too long"]) is None


def test_an_authors_npz_upload_is_the_body_initlab_import_posts(tmp_path: Path) -> None:
    file = write_authors_file(tmp_path / "runs-41.npz", runs=2, epochs=3, seed=41)
    body = upload_body(file.name, file.read_bytes(), "table1-16")
    assert body == upload_document(import_authors_file(file, "table1-16"))
    assert body["provenance"]["file"] == "runs-41.npz" and len(body["runs"]) == 4
    assert body["provenance"]["sha256"] == file_sha256(file)  # the same file imports once


@pytest.mark.parametrize(("raw", "preset", "says"), [
    (None, None, "runs.npz: choose the preset its runs followed"),
    (None, "no-such-preset", "unknown preset 'no-such-preset'"),
    (None, "fashion-mnist-small", "runs.npz: the arrays hold 2 arm(s) (axis 1) but the preset"),
    (b"PK not a zip", "table1-16", "runs.npz: not a readable .npz array file"),
    (b"", "table1-16", "runs.npz: not a readable .npz array file"),
])
def test_a_bad_npz_upload_or_a_missing_preset_is_one_clear_line(
    tmp_path: Path, raw: bytes | None, preset: str | None, says: str
) -> None:
    file = write_authors_file(tmp_path / "runs.npz", runs=2, epochs=3)
    with pytest.raises(ValueError) as refused:
        upload_body("runs.npz", file.read_bytes() if raw is None else raw, preset)
    line = str(refused.value)
    assert says in line and "\n" not in line
    assert "initlab-upload-" not in line  # the file's own name, not where it was unpacked
