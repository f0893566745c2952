"""Schemathesis against /openapi.json: generated requests to every operation (with the token)
never get a 5xx, and every response matches the schema its status documents. In-process on
SQLite (25 examples each), and as deployed, uvicorn on PostgreSQL (fewer: real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.reliability.inprocess import AUTH, live_postgres_api, route_app

# Loaded at import (schemathesis.pytest.from_fixture does not run on pytest 9: it sets the
# removed Node._nodeid); the app stores into a temporary folder of its own.
APP = route_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# The same schema without the app: its cases go over HTTP to the URL each call names.
live_schema = schemathesis.openapi.from_dict(APP.openapi())
FUZZ = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}
CHECKS = [not_a_server_error, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=25, **FUZZ)
def test_generated_requests_get_no_5xx_and_schema_conforming_answers(
    case: schemathesis.Case,
) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=CHECKS)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on a scratch PostgreSQL database, for the whole module."""
    root = Path(tmp_path_factory.mktemp("fuzz-postgres"))
    with live_postgres_api(root, Path(tmp_path_factory.mktemp("fuzz-logs"))) as (client, _):
        yield str(client.base_url)


@live_schema.parametrize()
@settings(max_examples=8, **FUZZ)
def test_generated_requests_to_uvicorn_on_postgres_get_no_5xx(
    case: schemathesis.Case, live_url: str
) -> None:
    response = case.call(base_url=live_url, headers=AUTH)
    case.validate_response(response, checks=CHECKS)
