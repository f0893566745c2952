"""Start and supervise service processes: Celery worker slots, the API, the dashboard."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from runqueue.app import served_queues
from store.config import Settings


@dataclass(frozen=True)
class Slot:
    """One worker process: its Celery node name and the environment that pins its device."""

    name: str
    env: dict[str, str] = field(default_factory=dict)


def plan_slots(
    gpus: Sequence[str], slots_per_gpu: int, cpu_slots: int, reserved_cores: int = 0
) -> list[Slot]:
    """K slots per listed GPU (each sees only its GPU), or `cpu_slots` CPU slots.

    `reserved_cores` are left to other processes (the API and dashboard under `initlab up`):
    intra-op threads that outnumber free cores spin against each other, and small models then
    train several times slower (the digits demo: 38 s with 1 thread, 384 s with 2, loaded CPU).
    """
    if gpus:
        return [
            Slot(f"gpu{gpu}-{k}", {"CUDA_VISIBLE_DEVICES": gpu, "INITLAB_DEVICE": "cuda"})
            for gpu in gpus
            for k in range(slots_per_gpu)
        ]
    # CPU slots share the cores; each gets its share of intra-op threads.
    threads = str(max(1, ((os.cpu_count() or 1) - reserved_cores) // max(1, cpu_slots)))
    return [
        Slot(
            f"cpu-{k}",
            {
                "CUDA_VISIBLE_DEVICES": "",
                "INITLAB_DEVICE": "cpu",
                "OMP_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
            },
        )
        for k in range(cpu_slots)
    ]


def node_name(slot: Slot, settings: Settings) -> str:
    """`slot@host-suffix`: the host as INITLAB_HOST_NAME or the machine says, and a suffix
    unique to this start, so that cloned hosts of one hostname stay distinct owners."""
    return f"{slot.name}@{settings.host_name or '%h'}-{secrets.token_hex(3)}"


def celery_argv(slot: Slot, settings: Settings, loglevel: str = "INFO") -> list[str]:
    """The command of one slot: a solo-pool worker, one run at a time, nothing prefetched."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.tasks:app",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "-n",
        node_name(slot, settings),
        "-Q",
        ",".join(served_queues(settings, slot.env.get("INITLAB_DEVICE", settings.device))),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        loglevel,
    ]


def child_grace(stop_grace: float) -> float:
    """How long children get after SIGTERM: INITLAB_STOP_GRACE less a margin (5 s, at most a
    tenth), so the supervisor kills stragglers itself before compose's SIGKILL, which comes
    after the same INITLAB_STOP_GRACE (docker-compose.yml)."""
    return stop_grace - min(5.0, stop_grace / 10)


class Supervisor:
    """Children in their own sessions; SIGINT/SIGTERM or one child's exit stops them all."""

    def __init__(self, stop_grace: float) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.grace = child_grace(stop_grace)
        self._stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        process = subprocess.Popen(argv, env={**os.environ, **(env or {})}, start_new_session=True)
        self.children.append((name, process))

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def wait(self) -> int:
        """Block until a signal or a child exits; then stop every child. Returns an exit code."""
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            while not self._stopping:
                for name, process in self.children:
                    if process.poll() is not None:
                        print(
                            f"initlab: {name} exited with code {process.returncode}; "
                            "stopping the others",
                            file=sys.stderr,
                        )
                        code = process.returncode or 1
                        self._stopping = True
                        break
                time.sleep(0.2)
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def stop(self) -> None:
        """SIGTERM every child (a worker hands its run back to the queue), SIGKILL stragglers."""
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + self.grace
        for name, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(
                    f"initlab: {name} did not stop in {self.grace:.0f}s; killing it",
                    file=sys.stderr,
                )
                process.kill()
                process.wait()
