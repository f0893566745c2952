"""Suite-wide policy: under INITLAB_REQUIRE_SERVICES=1 (CI) a skip is a failure unless allowed.

A missing browser, compose binary, PostgreSQL or Redis must not turn a CI run green by
skipping the tests that need it. The one allowed skip is the disk-full test's, on machines that
do not let the tests mount a tmpfs. Every skip is listed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Generator
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


REFUSED = f"skipped, which {REQUIRE}=1 does not allow: "


def refuse(report: pytest.TestReport) -> None:
    """Under INITLAB_REQUIRE_SERVICES=1 turn a disallowed skip of a test into a failure."""
    if report.skipped and not hasattr(report, "wasxfail") and required():
        reason = skip_reason(report)
        if not reason.startswith(ALLOWED_SKIPS):
            report.outcome = "failed"
            report.longrepr = REFUSED + reason


def record(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Keep a skip (or a refused one) for the list at the end of the run.

    Recorded from the logged reports, which pytest-xdist hands to the controlling process:
    the list and the exit status are that process's, whichever worker ran the test.
    """
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        _skips.append((report.nodeid, reason, reason.startswith(ALLOWED_SKIPS)))
    elif report.failed and str(report.longrepr).startswith(REFUSED):
        _skips.append((report.nodeid, str(report.longrepr).removeprefix(REFUSED), False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    refuse(report)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    # A skipped module stays skipped (a collection error would stop the whole run); the
    # session fails at its end instead, in pytest_sessionfinish.
    record(report)


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
