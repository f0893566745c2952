"""api.submission: `import:` models pass only for the modules the operator allowed."""

from __future__ import annotations

import json

import pytest

from api.submission import prepare
from core.spec import SpecError
from tests.service.servers import tiny_spec


def body(model: str) -> bytes:
    return json.dumps({**tiny_spec(), "model": model}).encode()


def test_import_models_need_their_module_on_the_allow_list() -> None:
    name = "import:tests.core.own_models:tiny_net"
    with pytest.raises(SpecError) as caught:
        prepare(body(name), "application/json", None, 100)
    assert caught.value.errors == [
        "model: module 'tests.core.own_models' is not in INITLAB_ALLOWED_MODEL_MODULES "
        "(allowed: none); the service imports only modules its operator listed"
    ]
    with pytest.raises(SpecError, match="not in INITLAB_ALLOWED_MODEL_MODULES.*allowed: tests"):
        prepare(body(name), "application/json", None, 100, ["tests"])  # exact module names only
    submission = prepare(body(name), "application/json", None, 100, ["tests.core.own_models"])
    assert submission.spec.model == name
