"""Calibration searches end to end (issue 27): a real API, real Celery workers on SQLite and
PostgreSQL, real tiny networks on digits. Every bad input is a 422 with nothing stored; a
fixed-seed search prunes through Optuna, cancels its pruned trials' runs with the reason,
shares the baseline's runs, confirms on a new seed; killing the coordinator mid-search (its
worker, SIGKILL) ends with the same trials."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.initlab.conftest import initlab, one_error_line
from tests.service.servers import TOKEN, Api, Backend, Service, problem_lines, tiny_spec, wait_for

# 3 main epochs; stages of 5-50% of 200 digits. Successive halving keeps the better half at
# main epochs 1 and 2 (epoch 3 is the last: a trial that gets there has finished).
SEARCH: dict[str, Any] = {
    "arm": "smart",
    "space": {
        "stages.count": [1, 2],
        "stages.fraction": {"log": [0.05, 0.5]},
        "stages.epochs": [1, 3],
        "reset": [True, False],
    },
    "budget": {"trials": 4, "preprocess_share": 0.5},
    "sampler": "random",
    "parallel": 1,
    "pruning": {"min_epochs": 1, "reduction": 2},
    "confirm": {"top": 1, "repeats": 2, "stop_when_decided": False},
}
ARMS = [
    {"name": "original", "method": "original"},
    {"name": "smart", "method": "smart_init", "stages": [{"fraction": 0.1, "epochs": 1}]},
]


def search_spec(name: str, **search: Any) -> dict[str, Any]:
    spec = tiny_spec(name, epochs=3, repeats=2, arms=copy.deepcopy(ARMS))
    spec["search"] = copy.deepcopy(SEARCH) | search
    return spec


@pytest.fixture(scope="module", name="slow_service", params=["sqlite", "postgres"])
def slow_service_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """API and one worker whose epochs take at least 0.6 s: the coordinator (every 0.5 s)
    sees a trial's first epoch long before its last."""
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    logs = Path(os.environ.get("INITLAB_TEST_LOGS") or tmp_path_factory.mktemp("logs"))
    service = Service(backend, logs)
    try:
        service.start_api(wait=False)
        service.start_worker(epoch_delay=0.6)
        yield service
    finally:
        service.stop()


def counts(api: Api) -> tuple[int, int]:
    searches = api.http.get("/searches").json()["total"]
    experiments = api.http.get("/experiments", params={"archived": "all"}).json()["total"]
    return searches, experiments


BAD = [
    ({"space": {"stages.lr": [0.001, 0.1]}}, "search.space: 'stages.lr' is not a schedule field;"
     " valid choices: stages.count, stages.fraction, stages.epochs, stages.growth, reset"),
    ({"space": {"stages.epochs": [3, 1]}},
     "search: space.stages.epochs: range [3, 1] is inverted (low > high)"),
    ({"space": {"stages.fraction": [0.1, 0.1]}},
     "search: space.stages.fraction: range [0.1, 0.1] is empty; give low < high or one choice"),
    ({"space": {"stages.count": {"choices": []}}},
     "search: space.stages.count: the list of choices is empty"),
    ({"budget": {"trials": 4, "preprocess_share": 0.01}},
     "search.budget.preprocess_share: 0.01 fits no schedule of the space: the smallest"
     " (stages.count 1, stages.fraction 0.05, stages.epochs 1) trains on 0.01667 of the"
     " baseline's main-phase examples"),
    ({"confirm": {"top": 5}},
     "search: confirm.top: 5 is larger than budget.trials 4; confirm at most as many schedules"
     " as are tried"),
    ({"arm": "original"}, "spec: search.arm: 'original' is the baseline; search another arm"),
    ({"sampler": "grid"}, "search: space.stages.fraction: the grid sampler needs choices or an"
     " integer range, got a float range"),
]


@pytest.mark.parametrize(("change", "line"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_every_bad_search_is_one_422_line_and_stores_nothing(
    service: Service, change: dict[str, Any], line: str
) -> None:
    api = Api(service.url)
    before = counts(api)
    response = api.http.post("/searches", json=search_spec("bad", **change))
    assert response.status_code == 422, response.text
    assert problem_lines(response) == [line]
    assert counts(api) == before


def test_a_plain_experiment_is_not_a_search_and_a_search_is_not_an_experiment(
    service: Service,
) -> None:
    api = Api(service.url)
    before = counts(api)
    plain = api.http.post("/searches", json=tiny_spec("plain"))
    assert plain.status_code == 422 and problem_lines(plain)[0].startswith("search: missing")
    search = api.http.post("/experiments", json=search_spec("as-experiment"))
    assert search.status_code == 422
    assert problem_lines(search) == [
        "search: a spec with a search block is submitted with POST /searches"
    ]
    assert counts(api) == before


def test_a_cancelled_search_cancels_its_runs_with_the_reason_and_asks_nothing_more(
    service: Service,
) -> None:
    api = Api(service.url)
    created = api.http.post("/searches", json=search_spec("to-cancel")).json()
    cancelled = api.http.post(f"/searches/{created['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    runs = api.runs(created["baseline_experiment_id"])
    assert runs and all(r["status"] in ("cancelled", "done") for r in runs)
    assert all(r["error"] == "cancelled: the search was cancelled"
               for r in runs if r["status"] == "cancelled")
    again = api.http.post(f"/searches/{created['id']}/cancel")
    assert again.status_code == 409 and "only a running or confirming" in again.json()["detail"]
    assert api.http.get("/searches/999999").status_code == 404


def test_runs_of_a_live_search_are_not_excluded_or_included_until_it_ends(
    service: Service,
) -> None:
    """An exclusion mid-search would change trials already judged, and a trial short of a run
    would never complete: 409 naming the search; once it ended, curation works as anywhere."""
    api = Api(service.url)
    created = api.http.post("/searches", json=search_spec("curated")).json()
    run = api.runs(created["baseline_experiment_id"])[0]
    refused = api.http.post(f"/runs/{run['id']}/exclude", json={"reason": "node is broken"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].startswith(
        f"run {run['id']} belongs to search {created['id']}, which is still running"
    )
    assert api.http.post(f"/runs/{run['id']}/include").status_code == 409
    assert api.http.get(f"/runs/{run['id']}").json()["excluded_reason"] is None
    assert api.http.post(f"/searches/{created['id']}/cancel").status_code == 200
    excluded = api.http.post(f"/runs/{run['id']}/exclude", json={"reason": "node is broken"})
    assert excluded.status_code == 200 and excluded.json()["excluded_reason"] == "node is broken"


def test_a_retried_submit_with_its_idempotency_key_stores_one_search(service: Service) -> None:
    api = Api(service.url)
    key = {"Idempotency-Key": f"search-{os.getpid()}-{service.port}"}
    first = api.http.post("/searches", json=search_spec("idempotent"), headers=key)
    before = counts(api)
    again = api.http.post("/searches", json=search_spec("idempotent"), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    other = api.http.post("/searches", json=search_spec("idempotent-2"), headers=key)
    assert other.status_code == 422 and "already used with a different request" in other.text
    assert counts(api) == before
    api.http.post(f"/searches/{first.json()['id']}/cancel")


def cli_checks(service: Service, search: dict[str, Any], folder: Path) -> None:
    """`initlab search` and `initlab report search:ID` on a finished search; a bad spec file."""
    env = {"INITLAB_API_URL": service.url, "INITLAB_API_TOKEN": TOKEN}
    shown = initlab("search", "status", str(search["id"]), env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"search {search['id']} calibrate: done" in shown.stdout
    assert "confirmed (95% CI)" in shown.stdout and "paper-default" in shown.stdout
    watched = initlab("search", "watch", str(search["id"]), env=env)
    assert watched.returncode == 0 and "trials: 4 ran" in watched.stdout
    report = initlab("report", f"search:{search['id']}", env=env)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith(f"## Calibration search {search['id']}")
    assert "winner's curse" in report.stdout
    assert "# Report: calibrate · confirmation" in report.stdout
    bad = folder / "bad.yaml"
    bad.write_text(yaml.safe_dump(search_spec("bad", confirm={"top": 9})))
    refused = initlab("search", str(bad), env=env)
    assert refused.returncode == 2
    assert "confirm.top: 9 is larger than budget.trials 4" in one_error_line(refused)
    ended = initlab("search", "cancel", str(search["id"]), env=env)
    assert ended.returncode == 1 and "is done" in one_error_line(ended)


def dashboard_checks(service: Service, search: dict[str, Any],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The Search page (Streamlit AppTest) on a finished search: counts, trials, the
    confirmation beside the search, and Optuna's figures drawn."""
    from streamlit.testing.v1 import AppTest

    from dashboard.client import SESSION_TOKEN
    from tests.dashboard.conftest import ROUTER

    monkeypatch.setenv("INITLAB_API_URL", service.url)
    monkeypatch.setenv("INITLAB_API_TOKEN", TOKEN)
    at = AppTest.from_file(str(ROUTER), default_timeout=120)
    at.session_state[SESSION_TOKEN] = TOKEN
    at.query_params.update(search=str(search["id"]))
    at.run()
    at.switch_page("views/search.py").run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Trials run"] == "4" and metrics["Status"] == "done"
    assert metrics["Pruned"] == f"{100 * search['counts']['pruned_share']:.0f}%"
    trials, confirmed = (frame.value for frame in at.dataframe)
    assert list(trials["trial"]) == [t["number"] for t in search["trials"]]
    assert list(confirmed["arm"]) == [a["arm"] for a in search["confirmation"]["arms"]]
    headers = [h.value for h in at.subheader]
    assert {"Optimisation history", "Parallel coordinates", "Parameter importances"} <= set(
        headers
    )
    assert len(at.get("plotly_chart")) >= 3  # history, pruning, coordinates (+ importances)


def wait_search(api: Api, search_id: int, timeout: float = 400) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        found = dict(api.http.get(f"/searches/{search_id}").json())
        assert found["status"] not in ("failed", "cancelled"), found
        return found if found["status"] == "done" else None

    return dict(wait_for(ended, timeout, 0.5, f"search {search_id} to end"))


def trial_key(search: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(t["number"], t["state"], t["params"], t["value"], t["intermediate"])
            for t in search["trials"]]


def test_a_search_prunes_shares_its_baseline_and_confirms_on_a_new_seed(
    slow_service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(slow_service.url)
    created = api.http.post("/searches", json=search_spec("calibrate"))
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/api/v1/searches/{created.json()['id']}"
    search = wait_search(api, created.json()["id"])
    trials = search["trials"]
    ran = [t for t in trials if t["state"] != "over_budget"]
    assert len(ran) == 4 and search["counts"]["ran"] == 4
    assert all(t["preprocess_share"] > 0.5 for t in trials if t["state"] == "over_budget")
    assert all(t["experiment_id"] is None for t in trials if t["state"] == "over_budget")

    # The baseline trained once per repeat; no trial experiment has a baseline run.
    baseline = api.runs(search["baseline_experiment_id"])
    assert sorted((r["arm"], r["repeat"]) for r in baseline) == [("original", 0), ("original", 1)]
    for trial in ran:
        runs = api.runs(trial["experiment_id"])
        assert sorted((r["arm"], r["repeat"]) for r in runs) == [("smart", 0), ("smart", 1)]
        arm = api.experiment(trial["experiment_id"])["spec"]["arms"][0]
        assert arm["reset"] == trial["params"]["reset"]  # the searched reset is what trains
    assert {t["params"]["reset"] for t in ran} == {True, False}

    # Pruned trials: Optuna's successive halving decided, their unfinished runs cancelled.
    pruned = [t for t in ran if t["state"] == "pruned"]
    assert pruned, trials
    assert search["counts"]["pruned_share"] == len(pruned) / 4
    cancelled = [r for t in pruned for r in api.runs(t["experiment_id"])
                 if r["status"] == "cancelled"]
    assert cancelled and all(r["error"].startswith("pruned: trial ") for r in cancelled)
    assert search["main_run_epochs"]["trained"] < search["main_run_epochs"]["full"]

    # Confirmation: a new seed (new initial weights), the baseline, the paper's default, the best.
    confirmation = search["confirmation"]
    confirm_runs = api.runs(confirmation["experiment_id"])
    best = min((t for t in ran if t["state"] == "complete"), key=lambda t: t["value"])
    assert {r["arm"] for r in confirm_runs} == {"original", "paper-default",
                                                f"trial-{best['number']}"}
    assert confirmation["seed"] != 7 and {r["seed"] for r in confirm_runs} == {confirmation["seed"]}
    searched_inits = {r["init_fingerprint"] for r in baseline}
    assert not searched_inits & {r["init_fingerprint"] for r in confirm_runs}
    side_by_side = confirmation["arms"]
    assert [a["arm"] for a in side_by_side] == ["paper-default", f"trial-{best['number']}"]
    winner = side_by_side[1]
    assert winner["search_estimate"] == best["value"] and winner["confirmed"]["n"] == 2
    assert winner["winners_curse_gap"] == pytest.approx(
        winner["search_estimate"] - winner["confirmed"]["mean_diff"]
    )

    cli_checks(slow_service, search, tmp_path)
    dashboard_checks(slow_service, search, monkeypatch)

    # Same seed, same trials: killing the coordinator (its worker) mid-search changes nothing.
    # Once, on PostgreSQL, the store of several hosts whose coordinators take over each other's
    # searches (a second full search on each dialect cost the suite about a minute).
    if slow_service.backend.name != "postgres":
        return
    again = api.http.post("/searches", json=search_spec("calibrate-killed")).json()

    def second_trial_running() -> bool:
        found = api.http.get(f"/searches/{again['id']}").json()
        return any(t["number"] >= 1 and t["state"] == "running" for t in found["trials"])

    wait_for(second_trial_running, 200, 0.2, "the second trial to start")
    slow_service.kill_worker(slow_service.workers[0])
    slow_service.start_worker(epoch_delay=0.6)
    assert trial_key(wait_search(api, again["id"])) == trial_key(search)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_migration_0011_goes_down_and_up(dialect: str, tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from store.db import alembic_config, upgrade
    from tests.service.backends import scratch_url

    def tables(url: str) -> set[str]:
        engine = create_engine(url)
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    with scratch_url(dialect, tmp_path, "search_migration") as url:
        assert {"search", "search_trial"} <= tables(url)
        command.downgrade(alembic_config(url), "0010")
        assert not {"search", "search_trial"} & tables(url)
        assert "experiment" in tables(url)
        upgrade(url)
        assert {"search", "search_trial"} <= tables(url)
