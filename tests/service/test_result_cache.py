"""The API's result cache: a partial summary of a live experiment is answered at once from the
last computation while the newer one is computed in the background, once, and then served."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.cache import STALE_HEADER, ResultCache
from apiclient import Client, Config
from core.spec import parse_spec
from store import results
from store.db import Database
from store.models import Experiment
from tests.reliability.inprocess import AUTH, make_app
from tests.service.backends import sqlite_backend
from tests.service.live_rows import add_epoch, running_experiment
from tests.service.servers import TOKEN, Service, wait_for


def test_an_older_body_is_sent_while_one_background_computation_makes_the_new_one() -> None:
    cache = ResultCache()
    release = threading.Event()
    computed: list[int] = []

    def compute(value: int) -> Any:
        def run() -> dict[str, int]:
            release.wait(10)
            computed.append(value)
            return {"value": value}
        return run

    release.set()
    first = cache.respond_while_refreshing("k", 1, compute(1))  # nothing stored: computed now
    assert json.loads(first.body) == {"value": 1} and STALE_HEADER not in first.headers
    release.clear()
    for _ in range(3):  # three ticks while the new figures take their time: one computation
        stale = cache.respond_while_refreshing("k", 2, compute(2))
        assert json.loads(stale.body) == {"value": 1} and stale.headers[STALE_HEADER] == "1"
    release.set()
    wait_for(lambda: cache.get("k", 2) is not None, 10, 0.01, "the background computation")
    fresh = cache.respond_while_refreshing("k", 2, compute(3))
    assert json.loads(fresh.body) == {"value": 2} and STALE_HEADER not in fresh.headers
    assert computed == [1, 2]


def test_a_failed_background_computation_keeps_the_older_body_and_is_tried_again() -> None:
    cache = ResultCache()
    cache.respond_while_refreshing("k", 1, lambda: {"value": 1})
    tries: list[int] = []

    def broken() -> Any:
        tries.append(1)
        raise RuntimeError("database went away")

    assert json.loads(cache.respond_while_refreshing("k", 2, broken).body) == {"value": 1}
    wait_for(lambda: tries and not cache._refreshing, 10, 0.01, "the failed computation")
    assert json.loads(cache.respond_while_refreshing("k", 2, lambda: {"value": 2}).body) == {
        "value": 1}  # still the older one, and a new computation started
    wait_for(lambda: cache.get("k", 2) is not None, 10, 0.01, "the second computation")


def test_a_live_experiments_partial_summary_catches_up_with_its_runs(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    database = Database(app.state.settings.database_url)
    eid, run = running_experiment(database, repeats=3)
    rng = random.Random(2)
    add_epoch(database, eid, list(run.values()), 1, rng)

    def summary_now() -> dict[str, Any]:
        with database.session() as session:
            spec = parse_spec(session.get(Experiment, eid).spec)  # type: ignore[union-attr]
            return results.experiment_summary(session, experiment_id=eid, spec=spec,
                                              done_only=False)

    path = f"/experiments/{eid}/summary"
    with TestClient(app, headers=AUTH, base_url="http://testserver/api/v1") as client:
        first = client.get(path, params={"include_unfinished": True})
        assert STALE_HEADER not in first.headers and first.json() == summary_now()
        done_only = client.get(path).json()
        assert done_only["tables"]["val_loss"] == []  # no run is done: exact, never stale

        add_epoch(database, eid, list(run.values()), 2, rng)
        stale = client.get(path, params={"include_unfinished": True})
        assert stale.headers.get(STALE_HEADER) == "1" and stale.json() == first.json()

        def caught_up() -> bool:
            response = client.get(path, params={"include_unfinished": True})
            return STALE_HEADER not in response.headers and response.json() == summary_now()

        wait_for(caught_up, 30, 0.05, "the partial summary to include epoch 2")


class Recording(httpx.HTTPTransport):
    """The real HTTP transport, noting each response's status."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


def test_a_client_holding_the_figures_gets_304_until_they_change(tmp_path: Path) -> None:
    backend = sqlite_backend(tmp_path)
    database = Database(backend.env["INITLAB_DATABASE_URL"])
    eid, run = running_experiment(database, repeats=2)
    rng = random.Random(4)
    add_epoch(database, eid, list(run.values()), 1, rng)
    service = Service(backend, tmp_path)
    service.start_api()
    transport = Recording()
    try:
        with Client(Config(service.url, TOKEN), transport=transport) as client:
            params = {"split": "val", "metric": "loss", "phase": "main", "band": "iqr"}
            first = client.curves(eid, **params)
            again = client.curves(eid, **params)
            assert again == first and transport.statuses == [200, 304]
            again["arms"].clear()  # each read is the caller's own copy
            assert client.curves(eid, **params) == first
            assert client.summary(eid, include_unfinished=True) == client.summary(
                eid, include_unfinished=True)
            assert transport.statuses[2:] == [304, 200, 304]

            add_epoch(database, eid, list(run.values()), 2, rng)
            moved = client.curves(eid, **params)
            assert transport.statuses[-1] == 200
            assert [row["epoch"] for row in moved["arms"]["original"]] == [1, 2]
            raw = httpx.get(f"{service.url}/api/v1/experiments/{eid}/curves", params=params,
                            headers={**AUTH, "If-None-Match": '"stale", ' + '"other"'})
            assert raw.status_code == 200 and raw.headers["etag"].startswith('"')
            held = httpx.get(f"{service.url}/api/v1/experiments/{eid}/curves", params=params,
                             headers={**AUTH, "If-None-Match": f'"x", {raw.headers["etag"]}'})
            assert held.status_code == 304 and held.content == b""
    finally:
        service.stop()
