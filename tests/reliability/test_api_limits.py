"""Hostile request bodies get a clear 413/422 naming the limit or the bad value, fast, and
leave nothing stored: oversize bodies, work limits, unknown names, YAML and JSON bombs, data
paths that leave the data root."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.reliability.inprocess import AUTH, live_postgres_api, make_app
from tests.service.servers import problem_lines, tiny_spec


@pytest.fixture(scope="module", params=["in-process sqlite", "uvicorn postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """The API in this process on SQLite, and as it is deployed: uvicorn on PostgreSQL."""
    root = Path(tmp_path_factory.mktemp("limits"))
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir()
    if request.param == "in-process sqlite":
        app = make_app(root, max_runs_per_submission=1000)
        os.symlink(outside, root / "data" / "link-out")
        with TestClient(app, headers=AUTH) as test_client:
            yield test_client
        return
    logs = Path(tmp_path_factory.mktemp("limits-logs"))
    with live_postgres_api(root, logs, INITLAB_MAX_RUNS_PER_SUBMISSION="1000") as (live, data):
        os.symlink(outside, data / "link-out")
        yield live


def _spec(**changes: Any) -> dict[str, Any]:
    spec = tiny_spec("limits")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = spec
        for part in parents:
            node = node[part]
        node[last] = value
    return spec


def _arms(n: int) -> list[dict[str, Any]]:
    return [{"name": f"a{i}", "method": "original"} for i in range(n)]


LIMITS = {
    "repeats": (_spec(repeats=1001), "repeats: Input should be less than or equal to 1000"),
    "epochs": (
        _spec(training__epochs=10_001),
        "training.epochs: Input should be less than or equal to 10000",
    ),
    "arms": (_spec(arms=_arms(21)), "arms: List should have at most 20 items"),
    "sweep size": (
        _spec(sweep={"seed": list(range(201))}),
        "sweep: 201 experiments (201) exceed the limit 200",
    ),
    "runs per submission": (
        _spec(repeats=100, arms=_arms(11)),
        "spec: asks for 1100 runs (1 experiment(s) × arms × repeats); the limit per submission "
        "is 1000 (INITLAB_MAX_RUNS_PER_SUBMISSION)",
    ),
    "stages": (
        _spec(
            arms=[
                {"name": "s", "method": "repeat", "stages": [{"fraction": 0.1, "epochs": 1}] * 51}
            ]
        ),
        "arms.0.stages: List should have at most 50 items",
    ),
    "model": (_spec(model="resnet50"), "model: unknown model 'resnet50'; valid choices:"),
    "data set": (
        _spec(dataset__name="emnist"),
        "dataset.name: Input should be 'downsampled_imagenet'",
    ),
    "method": (
        _spec(arms=[{"name": "x", "method": "magic"}]),
        "arms.0.method: Input should be 'original'",
    ),
    "data path ..": (
        _spec(dataset={"name": "cifar10", "root": "../../etc"}),
        "dataset.root: path '../../etc' escapes the data root",
    ),
    "absolute data path": (
        _spec(dataset={"name": "cifar10", "root": "/etc"}),
        "dataset.root: path '/etc' escapes the data root",
    ),
    "linked data folder": (
        _spec(dataset={"name": "cifar10", "root": "link-out"}),
        "dataset.root: path 'link-out' escapes the data root",
    ),
    "NaN": (
        _spec(training__lr=float("nan")),
        "training.lr: Input should be less than or equal to 10 (got nan)",
    ),
}


@pytest.mark.parametrize("limit", LIMITS)
def test_work_limits_and_names_are_422_naming_them(client: httpx.Client, limit: str) -> None:
    spec, line = LIMITS[limit]
    before = client.get("/api/v1/experiments").json()["total"]
    body = json.dumps(spec).encode()  # allows NaN, as many JSON writers do
    for path in ("/api/v1/experiments", "/api/v1/sweeps"):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert any(line in detail for detail in problem_lines(response)), response.json()
    assert client.get("/api/v1/experiments").json()["total"] == before


BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(8)
    ]
)  # fmt: skip  -- 10^9 values from 1 kB ("billion laughs")

BODIES: dict[str, tuple[str | bytes, str, str]] = {
    "billion laughs": (BOMB, "application/yaml", "more than 50000 values"),
    "deep JSON": ("[" * 100_000 + "]" * 100_000, "application/json", "nested too deeply"),
    "deep YAML": ("[" * 10_000 + "]" * 10_000, "application/yaml", "nested too deeply"),
    "huge number": ('{"seed": ' + "9" * 5000 + "}", "application/json", "not valid JSON"),
    "python tag": ("!!python/object/apply:os.system ['true']", "application/yaml", "not valid"),
    "not UTF-8": (b"\xff\xfe", "application/json", "not UTF-8"),
}


@pytest.mark.parametrize("body", BODIES)
def test_hostile_bodies_are_422(client: httpx.Client, body: str) -> None:
    # How long each takes is measured by bench/hostile_bodies.py, not asserted here.
    content, kind, fragment = BODIES[body]
    response = client.post(
        "/api/v1/experiments",
        content=content if isinstance(content, bytes) else content.encode(),
        headers={"Content-Type": kind},
    )
    assert response.status_code == 422, response.text[:300]
    assert any(fragment in line for line in problem_lines(response)), response.text[:300]


def test_body_over_the_size_limit_is_413_even_without_a_length(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    streamed = client.post(
        "/api/v1/experiments", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["detail"] == (
        "request body of more than 1000000 bytes exceeds the limit of 1000000 bytes "
        "(INITLAB_MAX_BODY_BYTES)"
    )
