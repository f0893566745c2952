"""Schemathesis against /openapi.json: generated requests to every operation (25 each, with
the token) never get a 5xx, and every response matches the schema its status documents."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.reliability.inprocess import AUTH, route_app

# Loaded at import (schemathesis.pytest.from_fixture does not run on pytest 9: it sets the
# removed Node._nodeid); the app stores into a temporary folder of its own.
schema = schemathesis.openapi.from_asgi("/openapi.json", route_app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_no_5xx_and_schema_conforming_answers(
    case: schemathesis.Case,
) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
