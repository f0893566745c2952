"""A stopping worker's log reads as a stop, not a crash: Celery logs every rejected message with
its traceback, and a warm shutdown rejects (re-queues) the one message it still takes."""

from __future__ import annotations

import logging

from celery.exceptions import Reject

SHUTDOWN_REASON = "worker shutting down"


class ShutdownRejectWithoutTraceback(logging.Filter):
    """Keeps Celery's one 'reject requeue=True: worker shutting down' line, drops its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, Reject) and error.reason == SHUTDOWN_REASON:
            record.exc_info = None
            record.exc_text = None
        return True


def install() -> None:
    """Attach the filter to the logger Celery reports task outcomes on."""
    logging.getLogger("celery.app.trace").addFilter(ShutdownRejectWithoutTraceback())
