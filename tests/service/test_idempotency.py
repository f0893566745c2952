# ruff: noqa: F811  (the app and client fixtures are test_api_conventions', imported by name)
"""Idempotent submits (issue 17): a retry after a dropped response, a key reused for another
request, and concurrent submits with one key each store and queue exactly once. In-process on
SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from runqueue.inspect import pending_task_ids
from store.models import Run
from tests.reliability.inprocess import AUTH
from tests.service.servers import tiny_spec
from tests.service.test_api_conventions import _db, _names, app, client  # noqa: F401


class DropsFirstAnswer(TestClient):
    """A client whose first answer is lost on the way back: the server did the work, the
    caller sees a reset connection (as after a proxy timeout or a network cut)."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, headers=AUTH, base_url="http://testserver/api/v1")
        self.dropped = 0

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = super().send(request, **kwargs)
        if not self.dropped:
            self.dropped += 1
            raise httpx.ReadError("connection reset before the answer arrived", request=request)
        return response


def _post_with_retries(client: httpx.Client, path: str, spec: dict[str, Any]) -> httpx.Response:
    """What a careful client does: one key per submission, the same key on every retry."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    for _ in range(3):
        try:
            return client.post(path, json=spec, headers=headers, params={"priority": 7})
        except httpx.TransportError:
            continue
    raise AssertionError("no answer after 3 tries")


def _task_ids(app: FastAPI, experiment_ids: list[int]) -> set[str]:
    with _db(app).session() as session:
        query = select(Run.task_id).where(Run.experiment_id.in_(experiment_ids))
        return {str(task_id) for task_id in session.scalars(query)}


@pytest.mark.parametrize("path", ["/experiments", "/sweeps"])
def test_a_retry_after_a_dropped_answer_queues_nothing_twice(
    app: FastAPI, client: TestClient, path: str
) -> None:
    name = f"retried-{uuid.uuid4().hex[:8]}"
    spec = tiny_spec(name, repeats=2)
    if path == "/sweeps":
        spec["sweep"] = {"seed": [1, 2]}
    settings = app.state.settings
    before = pending_task_ids(settings)
    assert before is not None
    with DropsFirstAnswer(app) as flaky:
        answer = _post_with_retries(flaky, path, spec)
        assert flaky.dropped == 1
    assert answer.status_code == 201 and answer.headers["idempotent-replayed"] == "true"
    stored = client.get("/experiments", params={"q": name}).json()["items"]
    expected = 2 if path == "/sweeps" else 1
    assert len(stored) == expected and [e["id"] for e in answer.json()["experiments"]] == sorted(
        e["id"] for e in stored
    )
    queued = _task_ids(app, [e["id"] for e in stored])
    assert len(queued) == 2 * expected == len(answer.json()["runs"])
    assert pending_task_ids(settings) == before | queued  # one message per run, no more
    location = answer.headers["location"]
    assert location.endswith(str(answer.json()["sweep_id"] or answer.json()["id"]))


def test_a_key_means_one_request(client: TestClient) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = client.post("/experiments", json=tiny_spec("keyed"), headers=key)
    again = client.post("/experiments", json=tiny_spec("keyed"), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert "idempotent-replayed" not in first.headers
    for other in (
        client.post("/experiments", json=tiny_spec("keyed-other"), headers=key),
        client.post("/experiments", json=tiny_spec("keyed"), headers=key, params={"priority": 1}),
        client.post("/sweeps", json={**tiny_spec("keyed"), "sweep": {"seed": [1]}}, headers=key),
    ):
        assert other.status_code == 422, other.text
        (problem,) = other.json()["detail"]
        assert problem["loc"] == ["header", "Idempotency-Key"]
        assert problem["type"] == "idempotency_key_reused"
    too_long = client.post("/experiments", json=tiny_spec(), headers={"Idempotency-Key": "k" * 201})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_concurrent_submits_with_one_key_store_one_experiment(
    app: FastAPI, client: TestClient
) -> None:
    name = f"raced-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": name}
    answers: list[httpx.Response] = []

    def submit() -> None:
        with TestClient(app, headers=AUTH, base_url="http://testserver/api/v1") as own:
            answers.append(own.post("/experiments", json=tiny_spec(name), headers=key))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(_names(client, q=name)) == 1


def test_a_key_expires_after_the_idempotency_ttl(app: FastAPI, client: TestClient) -> None:
    """Issue 24: keys are remembered INITLAB_IDEMPOTENCY_TTL (24 h); an older one is forgotten
    (its row removed) and the same key then starts a new submission."""
    from datetime import timedelta

    from sqlalchemy import update

    from store.models import IdempotencyKey, utcnow

    key = {"Idempotency-Key": f"ttl-{uuid.uuid4()}"}
    first = client.post("/experiments", json=tiny_spec("ttl"), headers=key)
    replayed = client.post("/experiments", json=tiny_spec("ttl"), headers=key)
    assert replayed.json()["id"] == first.json()["id"]  # within the TTL: the same answer
    ttl = app.state.settings.idempotency_ttl
    assert ttl == 86_400
    with _db(app).transaction() as session:  # a day and a second later, on the API's clock
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key["Idempotency-Key"])
            .values(created=utcnow() - timedelta(seconds=ttl + 1))
        )
    again = client.post("/experiments", json=tiny_spec("ttl"), headers=key)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    with _db(app).session() as session:
        (row,) = session.scalars(
            select(IdempotencyKey).where(IdempotencyKey.key == key["Idempotency-Key"])
        ).all()
        assert row.response["id"] == again.json()["id"]
