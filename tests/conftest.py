"""Suite-wide policy: under INITLAB_REQUIRE_SERVICES=1 (CI) a skip is a failure unless allowed.

A missing browser, compose binary, PostgreSQL or Redis must not turn a CI run green by
skipping the tests that need it. The one allowed skip is the disk-full test's, on machines that
do not let the tests mount a tmpfs. Every skip is listed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE = "INITLAB_REQUIRE_SERVICES"
# Reasons (prefixes) that may skip even in CI: they depend on the machine's permissions.
ALLOWED_SKIPS = ("this machine does not let the tests mount a tmpfs",)

_skips: list[tuple[str, str, bool]] = []  # (test id, reason, allowed)


def required() -> bool:
    """True where the environment says every service the tests need must be here."""
    return os.environ.get(REQUIRE) == "1"


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    """The reason a report was skipped, without pytest's 'Skipped: ' prefix."""
    longrepr: Any = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return str(reason).removeprefix("Skipped: ")


def police(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Record a skip; under INITLAB_REQUIRE_SERVICES=1 turn a disallowed one into a failure."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    allowed = reason.startswith(ALLOWED_SKIPS)
    _skips.append((report.nodeid, reason, allowed))
    # A skipped module stays skipped (a collection error would stop the whole run); the
    # session fails at its end instead, in pytest_sessionfinish.
    if required() and not allowed and isinstance(report, pytest.TestReport):
        report.outcome = "failed"
        report.longrepr = f"skipped, which {REQUIRE}=1 does not allow: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    police(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[Any]:
    report = yield
    police(report)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under INITLAB_REQUIRE_SERVICES=1 a disallowed skip fails the run."""
    if required() and any(not allowed for _, _, allowed in _skips) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The skip list, each marked allowed or refused under INITLAB_REQUIRE_SERVICES=1."""
    if not _skips:
        return
    terminalreporter.section(f"skip list ({len(_skips)}; {REQUIRE}={os.environ.get(REQUIRE)})")
    for nodeid, reason, allowed in _skips:
        verdict = "allowed" if allowed else ("REFUSED" if required() else "skipped")
        terminalreporter.write_line(f"{verdict}: {nodeid}: {reason}")
