"""The Celery app: broker from INITLAB_BROKER_URL, one queue per device class (cuda, cpu, any),
runs ordered by priority; publishing and broker health."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.utils.url import maybe_sanitize_url

from store.config import Settings, get_settings
from store.runs import Dispatch

log = logging.getLogger(__name__)
TASK_NAME = "initlab.run"
PRIORITY_STEPS = list(range(10))


DEVICE_CLASSES = ("cuda", "cpu", "any")


def queue_for(settings: Settings, device: str) -> str:
    """The queue of one device class: `any` keeps the plain queue name (messages published
    before device classes stay where workers look), cuda and cpu get `<name>.<class>`."""
    if device not in DEVICE_CLASSES:
        raise ValueError(f"device class {device!r} is not valid; valid choices: cuda, cpu, any")
    return settings.queue_name if device == "any" else f"{settings.queue_name}.{device}"


def served_queues(settings: Settings, device: str) -> list[str]:
    """The queues a worker training on torch device `device` consumes: its class's and any."""
    own = "cuda" if device.startswith("cuda") else "cpu"
    return [queue_for(settings, own), queue_for(settings, "any")]


def all_queues(settings: Settings) -> list[str]:
    """Every queue runs may wait in (recovery's lost-message check reads them all)."""
    return [queue_for(settings, device) for device in DEVICE_CLASSES]


def embedded_folders(settings: Settings) -> dict[str, Path]:
    """The folders of the embedded broker (messages, and the control fan-out tables)."""
    root = settings.broker_dir.resolve()
    return {"queue": root / "queue", "control": root / "control"}


def transport_options(settings: Settings) -> dict[str, Any]:
    """Broker options: the embedded folders, or Redis priority lists and key prefix."""
    if settings.is_embedded_broker:
        folders = embedded_folders(settings)
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "control_folder": str(folders["control"]),
            "polling_interval": settings.broker_poll_interval,
        }
    options: dict[str, Any] = {"visibility_timeout": settings.redis_visibility_timeout}
    if settings.broker_url.startswith(("redis://", "rediss://")):
        options.update(
            queue_order_strategy="priority",
            priority_steps=PRIORITY_STEPS,
            sep=":",
            global_keyprefix=settings.redis_key_prefix,
            socket_connect_timeout=5,
            polling_interval=settings.broker_poll_interval,
        )
    return options


def make_celery(settings: Settings | None = None, include: list[str] | None = None) -> Celery:
    """A Celery app configured from `settings` (default: the environment); `include` names
    the task modules a worker loads (the API only publishes, by task name)."""
    settings = settings or get_settings()
    app = Celery("initlab", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.queue_name,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # A run is idempotent (it resumes from its checkpoint), so a message is acknowledged
        # only when the run ends, and goes back to the queue if its worker process dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A running run needs no broker: a Redis restart must not stop it (its lost ack is
        # harmless, the run is idempotent). Celery 6 flips this default; pin it.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        task_queue_max_priority=9,
        task_default_priority=5,
        include=include or [],
    )
    if settings.is_embedded_broker:
        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport = "runqueue.fs_transport:Transport"
    return app


def broker_priority(settings: Settings, priority: int) -> int:
    """InitLab priority (0..9, higher first) as the broker's: Redis takes 0 as the highest."""
    priority = max(0, min(9, priority))
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return 9 - priority
    return priority


def publish_runs(app: Celery, settings: Settings, dispatches: Iterable[Dispatch]) -> int:
    """Send each run's one message; returns how many went out. A failure is only logged: the
    run is stored as queued, and the lost-message check publishes it again."""
    sent = 0
    for dispatch in dispatches:
        try:
            app.send_task(
                TASK_NAME,
                args=[dispatch.run_id],
                task_id=dispatch.task_id,
                queue=queue_for(settings, dispatch.device),
                priority=broker_priority(settings, dispatch.priority),
            )
            sent += 1
        except Exception:
            log.exception(
                "could not publish run %s; the lost-message check will retry", dispatch.run_id
            )
    return sent


def check_broker(app: Celery, settings: Settings) -> dict[str, Any]:
    """Whether the broker answers: the embedded folder is writable, or Redis connects."""
    url = maybe_sanitize_url(settings.broker_url)
    if settings.is_embedded_broker:
        folder = embedded_folders(settings)["queue"]
        ok = folder.is_dir() and os.access(folder, os.W_OK)
        return {"ok": ok, "url": url, "path": str(folder)}
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        return {"ok": True, "url": url}
    except Exception as error:
        return {"ok": False, "url": url, "error": type(error).__name__}
