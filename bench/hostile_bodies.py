"""Seconds the API takes to refuse each hostile body of tests/reliability/test_api_limits.py.

    OMP_NUM_THREADS=1 python bench/hostile_bodies.py

Moved out of the test (it asserted < 5 s each): a duration is a measurement, not a pass/fail.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from tests.reliability.inprocess import AUTH, make_app  # noqa: E402
from tests.reliability.test_api_limits import BODIES  # noqa: E402


def main() -> None:
    """Print status and milliseconds per hostile body, in-process on SQLite."""
    with (
        tempfile.TemporaryDirectory() as root,
        TestClient(make_app(Path(root)), headers=AUTH) as client,
    ):
        for name, (content, kind, _) in BODIES.items():
            body = content if isinstance(content, bytes) else content.encode()
            began = time.perf_counter()
            response = client.post(
                "/api/v1/experiments", content=body, headers={"Content-Type": kind}
            )
            ms = (time.perf_counter() - began) * 1000
            print(f"{name:>14}: {response.status_code} in {ms:.0f} ms")


if __name__ == "__main__":
    main()
