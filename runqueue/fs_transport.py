"""The embedded broker: kombu's filesystem transport, ordered by message priority.

kombu's own filesystem transport consumes files in name order, and names them by
time only. Ours puts the (inverted) priority first, so a higher priority is read first and
equal priorities stay first-in first-out. Messages are plain JSON files in one folder.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from typing import Any

from celery.signals import worker_shutting_down
from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

MAX_PRIORITY = 9
TAG = re.compile(r"[A-Za-z0-9-]{1,64}")  # no '.' or '_': the name must stay parseable
DRAIN_SLICE = 0.25  # seconds: the longest one drain polls the folder before it returns
# Set when this process's worker begins its warm shutdown (Ctrl-C, SIGTERM): from then on a
# drain takes no message and returns at once.
stopping = threading.Event()


@worker_shutting_down.connect
def _stop_draining(**_: Any) -> None:
    stopping.set()


def message_filename(queue: str, priority: int, task_id: str | None = None) -> str:
    """`<9-priority>_<ns>_<task id>.<queue>.msg`: sorts by priority, then by time.

    The task id in the name lets the lost-message check see which runs have a live message
    with one directory listing.
    """
    rank = MAX_PRIORITY - max(0, min(MAX_PRIORITY, priority))
    tag = task_id if task_id and TAG.fullmatch(task_id) else str(uuid.uuid4())
    return f"{rank}_{time.time_ns():020d}_{tag}.{queue}.msg"


def task_id_of(filename: str, queue: str) -> str | None:
    """The task id in a message file name of `queue`, or None for another queue's file."""
    stem, dot, rest = filename.partition(".")
    if not dot or rest != f"{queue}.msg":
        return None
    return stem.split("_", 2)[-1]


class Channel(filesystem.Channel):
    """A filesystem channel whose file names order messages by priority."""

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        priority = int(payload.get("properties", {}).get("priority") or 0)
        name = message_filename(queue, priority, payload.get("headers", {}).get("id"))
        final = os.path.join(self.data_folder_out, name)
        # Write under a name no consumer matches, then rename: a reader never sees half a file.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb", buffering=0) as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the priority-ordered channel."""

    Channel = Channel
    global_state = virtual.BrokerState()

    def drain_events(self, connection: Any, timeout: Any = None, **_: Any) -> Any:
        """Up to `timeout` as kombu's, but in short drains, and none once the worker stops.

        Celery's solo loop drains 2 s at a time and checks for a stop only between drains,
        then drains once more: an idle worker polled its empty folder for up to 4 s after
        SIGTERM, and its last drain could still take a message.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not stopping.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                return super().drain_events(
                    connection, timeout=DRAIN_SLICE if left is None else min(left, DRAIN_SLICE)
                )
            except TimeoutError:
                continue
        raise TimeoutError("the worker is stopping" if stopping.is_set() else "timed out")
